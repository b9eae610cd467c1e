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

/// Runs `vltava server` with its own `listeners` (no `--listen`), which
/// must fail to start; returns the exit code and stderr.
fn server_with_listeners(args: &[&str]) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_vltava"))
        .arg("server")
        .arg("--data-dir")
        .arg(dir.path())
        .args(["--set", "http.listeners="])
        .args(args)
        .output()
        .unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn a_tls_listener_without_a_key_store_is_a_start_up_error_saying_what_to_set() {
    let (code, stderr) = server_with_listeners(&["--set", "listeners=SSL://127.0.0.1:0"]);
    assert_ne!(code, Some(0));
    assert!(
        stderr.contains("listener SSL") && stderr.contains("ssl.keystore.location"),
        "{stderr}"
    );
}

#[test]
fn a_sasl_listener_offering_plain_without_users_is_a_start_up_error() {
    let (code, stderr) = server_with_listeners(&[
        "--set",
        "listeners=SASL_PLAINTEXT://127.0.0.1:0",
        "--set",
        "sasl.enabled.mechanisms=PLAIN",
    ]);
    assert_ne!(code, Some(0));
    assert!(
        stderr.contains("offers PLAIN") && stderr.contains("plain.sasl.jaas.config"),
        "{stderr}"
    );
}

#[test]
fn a_sasl_listener_with_only_kerberos_is_a_start_up_error() {
    // Kafka's default sasl.enabled.mechanisms is GSSAPI.
    let (code, stderr) =
        server_with_listeners(&["--set", "listeners=SASL_PLAINTEXT://127.0.0.1:0"]);
    assert_ne!(code, Some(0));
    assert!(stderr.contains("GSSAPI"), "{stderr}");
}
