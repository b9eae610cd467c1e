//! Generates `vltava-protocol`'s message code from Kafka's JSON message specs.
//!
//! Usage (from the workspace root):
//!
//! ```text
//! cargo run -p vltava-codegen                 # regenerate
//! cargo run -p vltava-codegen -- --check      # fail if the committed code differs
//! cargo run -p vltava-codegen -- --specs DIR --out DIR
//! ```
//!
//! `specs-newer/` holds Kafka specs newer than the shared directory's (Vote v2,
//! KIP-996 pre-vote); each replaces the shared file of the same name.
//!
//! The output is formatted with `rustfmt`, so regeneration is deterministic
//! for a given spec directory and toolchain.

mod generate;
mod index;
mod spec;

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

const SPEC_DIRS: &[&str] = &[
    "clients",
    "group-coordinator",
    "transaction-coordinator",
    "storage",
    "metadata",
    "raft",
];

struct Options {
    specs: PathBuf,
    /// Newer versions of a few Kafka specs than the shared directory has
    /// (see `specs-newer/`); a file here replaces the shared file of the same
    /// name.
    newer: PathBuf,
    out: PathBuf,
    check: bool,
}

fn parse_args() -> Result<Options, String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut options = Options {
        specs: root.join("../shared/kafka-message-specs"),
        newer: root.join("crates/vltava-codegen/specs-newer"),
        out: root.join("crates/vltava-protocol/src/messages"),
        check: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--check" => options.check = true,
            "--specs" => options.specs = args.next().ok_or("--specs needs a directory")?.into(),
            "--out" => options.out = args.next().ok_or("--out needs a directory")?.into(),
            "-h" | "--help" => {
                println!("usage: vltava-codegen [--check] [--specs DIR] [--out DIR]");
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(options)
}

fn rustfmt(source: &str) -> Result<String, String> {
    let mut child = Command::new("rustfmt")
        .args(["--edition", "2021", "--emit", "stdout", "--quiet"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run rustfmt: {e}"))?;
    let mut stdin = child.stdin.take().expect("piped stdin");
    let input = source.to_string();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let output = child
        .wait_with_output()
        .map_err(|e| format!("rustfmt: {e}"))?;
    writer
        .join()
        .expect("writer thread")
        .map_err(|e| format!("rustfmt stdin: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "rustfmt failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    String::from_utf8(output.stdout).map_err(|e| format!("rustfmt output: {e}"))
}

fn load_specs(dir: &Path, newer: &Path) -> Result<Vec<spec::MessageSpec>, String> {
    let mut specs = Vec::new();
    for sub in SPEC_DIRS {
        let path = dir.join(sub);
        let mut files: Vec<PathBuf> = std::fs::read_dir(&path)
            .map_err(|e| format!("{}: {e}", path.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        files.sort();
        for mut file in files {
            let replacement = newer.join(sub).join(file.file_name().expect("file name"));
            if replacement.exists() {
                file = replacement;
            }
            let text =
                std::fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?;
            let source = format!(
                "{sub}/{}",
                file.file_name().expect("file name").to_string_lossy()
            );
            specs.push(spec::parse_message(&text, &source)?);
        }
    }
    Ok(specs)
}

/// Every generated file, by path relative to the output directory.
fn generate_all(specs: &[spec::MessageSpec]) -> Result<BTreeMap<String, String>, String> {
    let mut files = BTreeMap::new();
    for msg in specs {
        let module = spec::snake_case(&msg.name);
        files.insert(
            format!("{module}.rs"),
            rustfmt(&generate::generate_message(msg)?)?,
        );
    }
    files.insert("mod.rs".into(), rustfmt(&index::generate_index(specs)?)?);
    Ok(files)
}

fn run() -> Result<bool, String> {
    let options = parse_args()?;
    let specs = load_specs(&options.specs, &options.newer)?;
    let files = generate_all(&specs)?;
    let existing: Vec<String> = match std::fs::read_dir(&options.out) {
        Ok(entries) => entries
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".rs"))
            .collect(),
        Err(_) => Vec::new(),
    };
    if options.check {
        let mut clean = true;
        for (name, text) in &files {
            let path = options.out.join(name);
            if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
                eprintln!("out of date: {}", path.display());
                clean = false;
            }
        }
        for name in &existing {
            if !files.contains_key(name) {
                eprintln!(
                    "not generated from any spec: {}",
                    options.out.join(name).display()
                );
                clean = false;
            }
        }
        if clean {
            println!(
                "{} generated files match {}",
                files.len(),
                options.specs.display()
            );
        }
        return Ok(clean);
    }
    std::fs::create_dir_all(&options.out).map_err(|e| format!("{}: {e}", options.out.display()))?;
    for name in &existing {
        if !files.contains_key(name) {
            std::fs::remove_file(options.out.join(name)).map_err(|e| format!("{name}: {e}"))?;
        }
    }
    for (name, text) in &files {
        let path = options.out.join(name);
        if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
            std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
        }
    }
    println!("wrote {} files to {}", files.len(), options.out.display());
    Ok(true)
}

fn main() -> ExitCode {
    match run() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("vltava-codegen: {e}");
            ExitCode::from(2)
        }
    }
}
