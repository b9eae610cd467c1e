package io.vltava.javaclient;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import java.util.stream.Stream;

/**
 * One running {@code vltava server} on a free 127.0.0.1 port with a temporary
 * data directory, as tests/external/conftest.py starts them for the Python
 * tests.
 *
 * <p>VLTAVA_BIN names the binary (default ../../target/debug/vltava relative
 * to this Maven project); VLTAVA_KEEP_LOGS=DIR keeps each broker's log there.
 */
public final class VltavaBroker implements AutoCloseable {
    /** Log lines that mean a broker bug whatever the client saw. */
    public static final Pattern BROKER_BUGS = Pattern.compile("cannot encode|panicked|has no handler");

    private final Path dir;
    private final Path log;
    private final List<String> settings;
    private final String name;
    private int port;
    private Process process;
    private long logOffset;

    public VltavaBroker(String name, List<String> settings) throws IOException {
        Path bin = binary();
        if (!Files.isExecutable(bin)) {
            throw new IllegalStateException(bin + " does not exist: run `cargo build -p vltava` or set VLTAVA_BIN");
        }
        this.name = name;
        this.settings = List.copyOf(settings);
        this.dir = Files.createTempDirectory("vltava-java-");
        this.log = dir.resolve("broker.log");
        for (int attempt = 0; attempt < 5; attempt++) {
            port = freePort();
            if (start()) {
                return;
            }
        }
        throw new IllegalStateException("broker did not start; log:\n" + logTail(40));
    }

    static Path binary() {
        String env = System.getenv("VLTAVA_BIN");
        if (env != null && !env.isEmpty()) {
            return Paths.get(env).toAbsolutePath();
        }
        // Surefire runs with the Maven project (tests/java) as working directory.
        return Paths.get("../../target/debug/vltava").toAbsolutePath().normalize();
    }

    private static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket()) {
            s.bind(new InetSocketAddress("127.0.0.1", 0));
            return s.getLocalPort();
        }
    }

    public String bootstrap() {
        return "127.0.0.1:" + port;
    }

    public int port() {
        return port;
    }

    public Path dataDir() {
        return dir.resolve("data");
    }

    private boolean start() throws IOException {
        List<String> args = new ArrayList<>();
        args.add(binary().toString());
        args.add("server");
        args.add("--listen");
        args.add(bootstrap());
        args.add("--data-dir");
        args.add(dataDir().toString());
        // No HTTP listener unless a test asks: its default port would be
        // shared by every broker these tests start.
        args.add("--set");
        args.add("http.listeners=");
        for (String s : settings) {
            args.add("--set");
            args.add(s);
        }
        ProcessBuilder pb = new ProcessBuilder(args);
        pb.environment().putIfAbsent("RUST_LOG", "info");
        pb.environment().put("NO_COLOR", "1");
        pb.redirectErrorStream(true);
        pb.redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()));
        process = pb.start();
        // A JVM that exits without closing us (an interrupted run) still
        // stops its broker.
        Process started = process;
        Runtime.getRuntime().addShutdownHook(new Thread(started::destroy));
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (System.nanoTime() < deadline) {
            if (!process.isAlive()) {
                return false; // e.g. the port was taken between probe and bind
            }
            try (Socket s = new Socket()) {
                s.connect(new InetSocketAddress("127.0.0.1", port), 500);
                return true;
            } catch (IOException e) {
                sleep(50);
            }
        }
        stop();
        return false;
    }

    public boolean alive() {
        return process != null && process.isAlive();
    }

    /** Stops the broker cleanly (SIGTERM) and starts it again on the same port and data. */
    public void restart() throws IOException {
        stop();
        if (!start()) {
            throw new IllegalStateException("broker did not restart; log:\n" + logTail(40));
        }
    }

    public void stop() {
        if (process == null) {
            return;
        }
        if (process.isAlive()) {
            process.destroy(); // SIGTERM: a clean shutdown
            try {
                if (!process.waitFor(10, TimeUnit.SECONDS)) {
                    process.destroyForcibly().waitFor();
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                process.destroyForcibly();
            }
        }
        process = null;
    }

    public String logText() {
        try {
            return Files.readString(log, StandardCharsets.UTF_8);
        } catch (IOException e) {
            return "";
        }
    }

    public String logTail(int n) {
        List<String> lines = logText().lines().collect(Collectors.toList());
        return String.join("\n", lines.subList(Math.max(0, lines.size() - n), lines.size()));
    }

    /** The log written since the last call. */
    public String newLog() {
        String text = logText();
        String fresh = text.substring((int) Math.min(logOffset, text.length()));
        logOffset = text.length();
        return fresh;
    }

    @Override
    public void close() {
        stop();
        String keep = System.getenv("VLTAVA_KEEP_LOGS");
        try {
            if (keep != null && !keep.isEmpty()) {
                Path to = Paths.get(keep);
                Files.createDirectories(to);
                Files.copy(log, to.resolve(name + "-" + port + ".log"), StandardCopyOption.REPLACE_EXISTING);
            }
            try (Stream<Path> walk = Files.walk(dir)) {
                walk.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    public static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new RuntimeException(e);
        }
    }
}
