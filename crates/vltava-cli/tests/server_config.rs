//! `vltava server` refuses bad configuration at start-up, naming the key.

use std::process::Command;

fn server(args: &[&str]) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_vltava"))
        .arg("server")
        .arg("--data-dir")
        .arg(dir.path())
        .arg("--listen")
        .arg("127.0.0.1:0")
        .args(args)
        .output()
        .unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn unknown_property_is_a_start_up_error_naming_the_key() {
    let (code, stderr) = server(&["--set", "log.segment.bytez=100"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("log.segment.bytez"), "{stderr}");
}

#[test]
fn invalid_value_is_a_start_up_error_naming_the_key() {
    let (code, stderr) = server(&["--set", "num.partitions=zero"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("num.partitions"), "{stderr}");
}

#[test]
fn properties_file_errors_name_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("server.properties");
    std::fs::write(
        &file,
        "# a comment\nnum.partitions=3\nauto.create.topics.enable=maybe\n",
    )
    .unwrap();
    let (code, stderr) = server(&["--config", file.to_str().unwrap()]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("auto.create.topics.enable"), "{stderr}");
}
