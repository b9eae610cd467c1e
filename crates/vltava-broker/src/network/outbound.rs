//! The security of the connections this node opens to other nodes, as
//! Kafka configures it: replica fetchers and broker-to-broker requests use
//! the inter-broker listener (`inter.broker.listener.name`, or the listener
//! named after `security.inter.broker.protocol`); the channel to the active
//! controller and the quorum voters use the first of
//! `controller.listener.names`. Each connection speaks that listener's
//! protocol with that listener's own settings: its trust store and key
//! store for TLS (`listener.name.<l>.ssl.*` over `ssl.*`), host name
//! verification by `ssl.endpoint.identification.algorithm`, and for SASL
//! the mechanism of `sasl.mechanism.inter.broker.protocol` or
//! `sasl.mechanism.controller.protocol` with the `username` and `password`
//! of the listener's JAAS config for that mechanism.
//!
//! Everything is read at start, and any setting that cannot work is
//! refused then with the key to fix, rather than found out as failing
//! connections later. The key and trust store files are read again when
//! they change (as the listeners' are), so a rotated certificate reaches
//! the connections opened after it without a restart.

use std::sync::Arc;

use vltava_config::{BrokerConfig, SecurityProtocol};
use vltava_net::security::{ClientSecurity, SaslLogin};
use vltava_tls::OutboundTls;

use super::server::tls_settings;

/// The listener and security of this node's connections of one kind.
#[derive(Debug, Clone)]
pub struct Outbound {
    /// The listener name (upper case) whose endpoints are dialled.
    pub listener: String,
    pub protocol: SecurityProtocol,
    /// `None` for PLAINTEXT.
    pub security: Option<Arc<ClientSecurity>>,
    /// The TLS behind `security`, to reload when its files change.
    pub tls: Option<Arc<OutboundTls>>,
}

impl Outbound {
    fn plaintext(listener: String) -> Outbound {
        Outbound {
            listener,
            protocol: SecurityProtocol::Plaintext,
            security: None,
            tls: None,
        }
    }
}

/// The inter-broker and controller connections' settings.
#[derive(Debug, Clone)]
pub struct OutboundSecurity {
    pub inter_broker: Outbound,
    pub controller: Outbound,
}

impl OutboundSecurity {
    /// The TLS configurations to look at for replaced files.
    pub fn reloadable_tls(&self) -> Vec<Arc<OutboundTls>> {
        [&self.inter_broker, &self.controller]
            .into_iter()
            .filter_map(|o| o.tls.clone())
            .collect()
    }
}

/// The mechanisms this node can log in with.
const CLIENT_MECHANISMS: [&str; 3] = ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"];

impl OutboundSecurity {
    /// Reads the settings from `config`. `broker` is whether this node has
    /// the broker role (only brokers use the inter-broker listener).
    pub fn from_config(config: &BrokerConfig, broker: bool) -> Result<OutboundSecurity, String> {
        let inter_broker_name = config.inter_broker_listener_name().to_ascii_uppercase();
        if !crate::broker::is_multi_node(config) {
            // A single node (a quorum of itself) dials no other node, so
            // there is nothing to check or make.
            return Ok(OutboundSecurity {
                inter_broker: Outbound::plaintext(inter_broker_name),
                controller: Outbound::plaintext(String::new()),
            });
        }
        let inter_broker = if broker {
            let key = if config.is_set("inter.broker.listener.name") {
                "inter.broker.listener.name"
            } else {
                "security.inter.broker.protocol"
            };
            let Some(protocol) = config.security_protocol_of(&inter_broker_name) else {
                return Err(format!(
                    "{key}: the inter-broker listener {inter_broker_name} has no security protocol in \
                     listener.security.protocol.map"
                ));
            };
            // Other brokers are dialled at their registered endpoint of this
            // name, so this broker must publish one too.
            if !config
                .advertised_listeners()
                .iter()
                .any(|e| e.listener_name == inter_broker_name)
            {
                return Err(format!(
                    "{key}: the inter-broker listener {inter_broker_name} is not one of this broker's \
                     listeners (listeners / advertised.listeners)"
                ));
            }
            outbound(
                config,
                inter_broker_name,
                protocol,
                "sasl.mechanism.inter.broker.protocol",
                false,
            )?
        } else {
            Outbound::plaintext(inter_broker_name)
        };
        let controller = match config.controller_listener_names().into_iter().next() {
            // No controller listener named: the voters are dialled in
            // plaintext at the addresses of controller.quorum.voters.
            None => Outbound::plaintext(String::new()),
            Some(name) => {
                let protocol = config
                    .security_protocol_of(&name)
                    .unwrap_or(SecurityProtocol::Plaintext);
                outbound(
                    config,
                    name,
                    protocol,
                    "sasl.mechanism.controller.protocol",
                    true,
                )?
            }
        };
        Ok(OutboundSecurity {
            inter_broker,
            controller,
        })
    }
}

fn outbound(
    config: &BrokerConfig,
    listener: String,
    protocol: SecurityProtocol,
    mechanism_key: &str,
    controller: bool,
) -> Result<Outbound, String> {
    let tls = if protocol.uses_tls() {
        let settings = tls_settings(config, &listener)?;
        let verify_host_name = match config
            .listener_text(&listener, "ssl.endpoint.identification.algorithm")
            .map(|a| a.trim().to_ascii_lowercase())
            .as_deref()
        {
            None | Some("") => false,
            Some("https") => true,
            Some(other) => {
                return Err(format!(
                    "ssl.endpoint.identification.algorithm={other} (listener {listener}): \
                     expected https, or empty for no host name verification"
                ))
            }
        };
        let tls = OutboundTls::new(settings, verify_host_name).map_err(|e| e.to_string())?;
        Some(Arc::new(tls))
    } else {
        None
    };
    let sasl = if protocol.uses_sasl() {
        Some(sasl_login(config, &listener, mechanism_key, controller)?)
    } else {
        None
    };
    let security = (tls.is_some() || sasl.is_some()).then(|| {
        Arc::new(ClientSecurity {
            tls: tls.as_ref().map(|t| t.config()),
            tls_server_name: None,
            sasl,
        })
    });
    Ok(Outbound {
        listener,
        protocol,
        security,
        tls,
    })
}

fn sasl_login(
    config: &BrokerConfig,
    listener: &str,
    mechanism_key: &str,
    controller: bool,
) -> Result<SaslLogin, String> {
    let mechanism = config
        .get(mechanism_key)
        .and_then(|v| v.as_str())
        .map(|m| m.trim().to_ascii_uppercase())
        .unwrap_or_else(|| "GSSAPI".into());
    if !CLIENT_MECHANISMS.contains(&mechanism.as_str()) {
        return Err(format!(
            "{mechanism_key}={mechanism}: listener {listener} uses SASL, and this node logs in to it \
             with PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 only"
        ));
    }
    if controller && mechanism.starts_with("SCRAM-") {
        // The controllers would check SCRAM credentials against the
        // metadata log, which they can only read once they reach each other.
        return Err(format!(
            "{mechanism_key}={mechanism}: SCRAM credentials live in the cluster metadata, which \
             the controller listener ({listener}) is needed to read; use PLAIN or SSL there"
        ));
    }
    let jaas_key = format!(
        "listener.name.{}.{}.sasl.jaas.config",
        listener.to_ascii_lowercase(),
        mechanism.to_ascii_lowercase()
    );
    let Some(jaas) = config.jaas_config(listener, &mechanism) else {
        return Err(format!(
            "{jaas_key} (or sasl.jaas.config) is not set: listener {listener} uses SASL {mechanism}, \
             and this node needs a username and password to connect to it on other nodes"
        ));
    };
    let entry = vltava_sasl::jaas::parse_single(&jaas)
        .map_err(|e| format!("{jaas_key}: {}", e.message()))?;
    match (entry.option("username"), entry.option("password")) {
        (Some(username), Some(password)) if !username.is_empty() => Ok(SaslLogin {
            mechanism,
            username: username.to_string(),
            password: password.to_string(),
            token_auth: false,
        }),
        _ => Err(format!(
            "{jaas_key}: no username and password: listener {listener} uses SASL {mechanism}, and \
             this node logs in to it on other nodes with the JAAS config's username=\"...\" \
             password=\"...\""
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VOTERS: (&str, &str) = (
        "controller.quorum.voters",
        "1@127.0.0.1:9093,2@127.0.0.1:9095",
    );

    fn config(items: &[(&str, &str)]) -> BrokerConfig {
        let props = std::iter::once(VOTERS)
            .chain(items.iter().copied())
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        BrokerConfig::from_sources(props, vec![]).unwrap()
    }

    fn jaas(user: &str, password: &str) -> String {
        format!(
            "org.apache.kafka.common.security.plain.PlainLoginModule required \
             username=\"{user}\" password=\"{password}\" user_{user}=\"{password}\";"
        )
    }

    #[test]
    fn plaintext_listeners_need_nothing() {
        let c = config(&[("listeners", "PLAINTEXT://127.0.0.1:9092")]);
        let o = OutboundSecurity::from_config(&c, true).unwrap();
        assert_eq!(o.inter_broker.listener, "PLAINTEXT");
        assert!(o.inter_broker.security.is_none() && o.controller.security.is_none());
    }

    #[test]
    fn the_login_is_the_mechanisms_jaas_config_of_the_listener() {
        let broker_wide = jaas("fallback", "f");
        let per_listener = jaas("broker", "b-secret");
        let controller = jaas("controller", "c-secret");
        let c = config(&[
            (
                "listeners",
                "INTERNAL://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093",
            ),
            (
                "listener.security.protocol.map",
                "INTERNAL:SASL_PLAINTEXT,CONTROLLER:SASL_PLAINTEXT",
            ),
            ("inter.broker.listener.name", "internal"),
            ("controller.listener.names", "CONTROLLER"),
            ("sasl.mechanism.inter.broker.protocol", "PLAIN"),
            ("sasl.mechanism.controller.protocol", "PLAIN"),
            ("sasl.jaas.config", &broker_wide),
            (
                "listener.name.internal.plain.sasl.jaas.config",
                &per_listener,
            ),
            ("listener.name.controller.sasl.jaas.config", &controller),
        ]);
        let o = OutboundSecurity::from_config(&c, true).unwrap();
        assert_eq!(o.inter_broker.listener, "INTERNAL");
        let login = |o: &Outbound| {
            let sasl = o.security.as_ref().unwrap().sasl.clone().unwrap();
            (sasl.mechanism, sasl.username, sasl.password)
        };
        assert_eq!(
            login(&o.inter_broker),
            ("PLAIN".into(), "broker".into(), "b-secret".into())
        );
        assert_eq!(
            login(&o.controller),
            ("PLAIN".into(), "controller".into(), "c-secret".into())
        );
        assert!(o.inter_broker.security.as_ref().unwrap().tls.is_none());
    }

    #[test]
    fn a_controller_only_node_does_not_need_the_inter_broker_listener() {
        let c = config(&[
            ("listeners", "CONTROLLER://127.0.0.1:9093"),
            ("controller.listener.names", "CONTROLLER"),
            ("inter.broker.listener.name", "INTERNAL"),
            ("listener.security.protocol.map", "INTERNAL:SASL_SSL"),
        ]);
        assert!(OutboundSecurity::from_config(&c, false).is_ok());
        let err = OutboundSecurity::from_config(&c, true).unwrap_err();
        assert!(err.contains("inter.broker.listener.name"), "{err}");
    }

    #[test]
    fn bad_host_name_verification_settings_are_refused() {
        let c = config(&[
            ("listeners", "SSL://127.0.0.1:9092"),
            ("security.inter.broker.protocol", "SSL"),
            ("ssl.endpoint.identification.algorithm", "ldap"),
            ("ssl.truststore.certificates", "not read before the check"),
        ]);
        let err = OutboundSecurity::from_config(&c, true).unwrap_err();
        assert!(
            err.contains("ssl.endpoint.identification.algorithm=ldap"),
            "{err}"
        );
    }
}
