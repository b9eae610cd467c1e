//! `vltava dev-certs`: a development CA, a broker certificate and a client
//! certificate as PEM files, and the settings that use them, so a secured
//! single node runs within a minute. Not for production: the CA key sits
//! next to the certificates it signed.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

#[derive(Debug, Args)]
pub struct DevCertsArgs {
    /// Directory to write the files into.
    #[arg(long, default_value = "./vltava-certs")]
    pub dir: PathBuf,
    /// Host names or addresses the broker certificate is for, besides
    /// localhost and 127.0.0.1 (repeat or separate with commas).
    #[arg(long = "host", value_delimiter = ',')]
    pub hosts: Vec<String>,
    /// Common name of the client certificate (its principal on a TLS
    /// listener: User:O=Vltava development,CN=<name>).
    #[arg(long, default_value = "client")]
    pub client: String,
}

pub fn run(args: DevCertsArgs) -> ExitCode {
    let files = match vltava_tls::dev::write_dev_certs(&args.dir, &args.hosts, &args.client) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let abs = |p: &PathBuf| std::fs::canonicalize(p).unwrap_or_else(|_| p.clone());
    // One write, and a closed pipe (`| head`) is not an error.
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Wrote a development CA and certificates to {}.",
        abs(&args.dir).display()
    );
    let _ = writeln!(out);
    let _ = writeln!(out, "Broker settings (server.properties, or --set each):");
    let _ = writeln!(
        out,
        "  listeners=PLAINTEXT://127.0.0.1:9092,SSL://127.0.0.1:9093"
    );
    let _ = writeln!(out, "  ssl.keystore.type=PEM");
    let _ = writeln!(
        out,
        "  ssl.keystore.location={}",
        abs(&files.broker_keystore).display()
    );
    let _ = writeln!(out, "  ssl.truststore.type=PEM");
    let _ = writeln!(
        out,
        "  ssl.truststore.location={}",
        abs(&files.ca).display()
    );
    let _ = writeln!(out, "  # ssl.client.auth=required   for mutual TLS");
    let _ = writeln!(out);
    let _ = writeln!(out, "librdkafka clients (kcat -X, confluent-kafka):");
    let _ = writeln!(out, "  security.protocol=SSL");
    let _ = writeln!(out, "  ssl.ca.location={}", abs(&files.ca).display());
    let _ = writeln!(
        out,
        "  ssl.certificate.location={}",
        abs(&files.client_cert).display()
    );
    let _ = writeln!(
        out,
        "  ssl.key.location={}",
        abs(&files.client_key).display()
    );
    let _ = writeln!(out);
    let _ = writeln!(out, "Java clients (client.properties):");
    let _ = writeln!(out, "  security.protocol=SSL");
    let _ = writeln!(out, "  ssl.truststore.type=PEM");
    let _ = writeln!(
        out,
        "  ssl.truststore.location={}",
        abs(&files.ca).display()
    );
    let _ = writeln!(out, "  ssl.keystore.type=PEM");
    let _ = writeln!(
        out,
        "  ssl.keystore.location={}",
        abs(&files.client_keystore).display()
    );
    let _ = std::io::stdout().write_all(out.as_bytes());
    ExitCode::SUCCESS
}
