//! `--command-config FILE`: the client properties Kafka's tools take
//! (`security.protocol`, `sasl.mechanism`, `sasl.jaas.config`, `ssl.*`),
//! and librdkafka's names for the same things (`sasl.username`,
//! `sasl.password`, `ssl.ca.location`, `ssl.certificate.location`,
//! `ssl.key.location`), turned into the connection's TLS and SASL
//! settings. Stores are PEM, PKCS12 or JKS, read as the broker reads its
//! own.

use std::collections::BTreeMap;
use std::path::Path;

use vltava_client::{ClientSecurity, SaslLogin};

use super::ToolError;

fn input(message: impl Into<String>) -> ToolError {
    ToolError::Input(message.into())
}

/// Reads a client properties file.
pub fn read(path: &Path) -> Result<BTreeMap<String, String>, ToolError> {
    let entries = vltava_config::read_properties_file(path)
        .map_err(|e| input(format!("{}: {e}", path.display())))?;
    Ok(entries.into_iter().collect())
}

/// The TLS and SASL settings the properties ask for (`None`: plaintext).
pub fn security(props: &BTreeMap<String, String>) -> Result<Option<ClientSecurity>, ToolError> {
    let get = |k: &str| {
        props
            .get(k)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    let protocol = get("security.protocol")
        .unwrap_or_else(|| "PLAINTEXT".into())
        .to_ascii_uppercase();
    let (tls, sasl) = match protocol.as_str() {
        "PLAINTEXT" => return Ok(None),
        "SSL" => (true, false),
        "SASL_PLAINTEXT" => (false, true),
        "SASL_SSL" => (true, true),
        other => {
            return Err(input(format!(
                "security.protocol={other}: expected PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL"
            )))
        }
    };
    let read_text = |key: &str| -> Result<Option<String>, ToolError> {
        match get(key) {
            None => Ok(None),
            Some(path) => std::fs::read_to_string(&path)
                .map(Some)
                .map_err(|e| input(format!("{key}={path}: {e}"))),
        }
    };
    let tls = if tls {
        let store_type = |key: &str| -> Result<vltava_tls::StoreType, ToolError> {
            match get(key) {
                None => Ok(vltava_tls::StoreType::Unset),
                Some(name) => vltava_tls::StoreType::from_name(&name)
                    .map_err(|e| input(format!("{key}: {e}"))),
            }
        };
        let mut settings = vltava_tls::TlsSettings::with_keystore("client", "");
        settings.keystore_location = get("ssl.keystore.location").map(Into::into);
        settings.keystore_type = store_type("ssl.keystore.type")?;
        settings.keystore_password = get("ssl.keystore.password");
        settings.keystore_key = get("ssl.keystore.key");
        settings.keystore_certificate_chain = get("ssl.keystore.certificate.chain");
        settings.key_password = get("ssl.key.password");
        settings.truststore_type = store_type("ssl.truststore.type")?;
        settings.truststore_location = get("ssl.truststore.location").map(Into::into);
        settings.truststore_password = get("ssl.truststore.password");
        settings.truststore_certificates = get("ssl.truststore.certificates");
        // librdkafka's names: a PEM CA file, and a key and certificate in
        // files of their own.
        if settings.truststore_location.is_none() && settings.truststore_certificates.is_none() {
            settings.truststore_location = get("ssl.ca.location").map(Into::into);
        }
        if settings.keystore_location.is_none() && settings.keystore_key.is_none() {
            if let (Some(key), Some(chain)) = (
                read_text("ssl.key.location")?,
                read_text("ssl.certificate.location")?,
            ) {
                settings.keystore_key = Some(key);
                settings.keystore_certificate_chain = Some(chain);
            }
        }
        if settings.truststore_location.is_none() && settings.truststore_certificates.is_none() {
            return Err(input(
                "TLS needs trusted certificates: ssl.truststore.location (PEM, PKCS12 or JKS) or ssl.ca.location",
            ));
        }
        // Kafka's clients check the broker's host name unless the
        // algorithm is set empty.
        let verify_host_name = props
            .get("ssl.endpoint.identification.algorithm")
            .is_none_or(|v| !v.trim().is_empty());
        let outbound = vltava_tls::OutboundTls::new(settings, verify_host_name)
            .map_err(|e| input(e.to_string()))?;
        Some(outbound.config())
    } else {
        None
    };
    let sasl = if sasl {
        let mechanism = get("sasl.mechanism").unwrap_or_else(|| "GSSAPI".into());
        if !matches!(
            mechanism.as_str(),
            "PLAIN" | "SCRAM-SHA-256" | "SCRAM-SHA-512"
        ) {
            return Err(input(format!(
                "sasl.mechanism={mechanism}: the tools speak PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512"
            )));
        }
        // A delegation token logs in as Kafka's ScramLoginModule does, with
        // tokenauth="true" beside the token id and HMAC.
        let (username, password, token_auth) = match get("sasl.jaas.config") {
            Some(jaas) => {
                let entry = vltava_sasl::jaas::parse_single(&jaas)
                    .map_err(|e| input(format!("sasl.jaas.config: {}", e.message())))?;
                (
                    entry.option("username").map(str::to_string),
                    entry.option("password").map(str::to_string),
                    entry
                        .option("tokenauth")
                        .is_some_and(|v| v.eq_ignore_ascii_case("true")),
                )
            }
            None => (get("sasl.username"), get("sasl.password"), false),
        };
        if token_auth && mechanism == "PLAIN" {
            return Err(input(
                "sasl.jaas.config: tokenauth needs sasl.mechanism SCRAM-SHA-256 or SCRAM-SHA-512",
            ));
        }
        let (Some(username), Some(password)) = (username, password) else {
            return Err(input(
                "SASL needs a user: sasl.jaas.config with username and password, or sasl.username and sasl.password",
            ));
        };
        Some(SaslLogin {
            mechanism,
            username,
            password,
            token_auth,
        })
    } else {
        None
    };
    Ok(Some(ClientSecurity {
        tls,
        tls_server_name: None,
        sasl,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(items: &[(&str, &str)]) -> BTreeMap<String, String> {
        items
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn plaintext_needs_nothing() {
        assert!(security(&props(&[])).unwrap().is_none());
        assert!(security(&props(&[("security.protocol", "plaintext")]))
            .unwrap()
            .is_none());
    }

    #[test]
    fn sasl_users_come_from_the_jaas_config_or_librdkafka_names() {
        let s = security(&props(&[
            ("security.protocol", "SASL_PLAINTEXT"),
            ("sasl.mechanism", "SCRAM-SHA-512"),
            (
                "sasl.jaas.config",
                "org.apache.kafka.common.security.scram.ScramLoginModule required username=\"alice\" password=\"a-secret\";",
            ),
        ]))
        .unwrap()
        .unwrap();
        let login = s.sasl.unwrap();
        assert_eq!(
            (login.username.as_str(), login.password.as_str()),
            ("alice", "a-secret")
        );
        assert!(s.tls.is_none());

        let s = security(&props(&[
            ("security.protocol", "SASL_PLAINTEXT"),
            ("sasl.mechanism", "PLAIN"),
            ("sasl.username", "bob"),
            ("sasl.password", "b"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(s.sasl.unwrap().username, "bob");
    }

    #[test]
    fn missing_or_unsupported_settings_say_what_is_wrong() {
        let err = |items: &[(&str, &str)]| security(&props(items)).err().unwrap().to_string();
        assert!(err(&[("security.protocol", "SASL_PLAINTEXT")]).contains("GSSAPI"));
        assert!(err(&[
            ("security.protocol", "SASL_PLAINTEXT"),
            ("sasl.mechanism", "PLAIN")
        ])
        .contains("sasl.username"));
        assert!(err(&[("security.protocol", "SSL")]).contains("ssl.truststore.location"));
        assert!(err(&[("security.protocol", "TLS")]).contains("expected PLAINTEXT"));
    }

    #[test]
    fn tls_takes_a_pem_trust_store() {
        let dir = tempfile::tempdir().unwrap();
        let files = vltava_tls::dev::write_dev_certs(dir.path(), &[], "c").unwrap();
        let s = security(&props(&[
            ("security.protocol", "SSL"),
            ("ssl.truststore.location", files.ca.to_str().unwrap()),
            (
                "ssl.keystore.location",
                files.client_keystore.to_str().unwrap(),
            ),
        ]))
        .unwrap()
        .unwrap();
        assert!(s.tls.is_some() && s.sasl.is_none());
        let err = security(&props(&[
            ("security.protocol", "SSL"),
            ("ssl.truststore.location", files.ca.to_str().unwrap()),
            ("ssl.truststore.type", "JKS"),
        ]))
        .err()
        .unwrap();
        assert!(err.to_string().contains("is a PEM file"), "{err}");
    }

    #[test]
    fn tls_takes_jks_stores_as_kafka_tools_do() {
        let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../vltava-tls/tests/fixtures");
        let trust = fixtures.join("trust.jks");
        let keystore = fixtures.join("broker-rsa.jks");
        let with = |password: &str| {
            security(&props(&[
                ("security.protocol", "SSL"),
                ("ssl.truststore.location", trust.to_str().unwrap()),
                ("ssl.truststore.password", "trust-secret"),
                ("ssl.keystore.location", keystore.to_str().unwrap()),
                ("ssl.keystore.password", password),
                ("ssl.key.password", "key-secret"),
            ]))
        };
        assert!(with("store-secret").unwrap().unwrap().tls.is_some());
        let err = with("guess").err().unwrap().to_string();
        assert!(err.contains("integrity check failed"), "{err}");
    }
}
