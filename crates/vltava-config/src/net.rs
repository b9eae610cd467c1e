//! Listener, security-protocol and quorum text formats, and the custom
//! validators built on them.

use std::fmt;

use crate::types::{ConfigValue, CustomValidator};

/// A security protocol a listener speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SecurityProtocol {
    Plaintext,
    Ssl,
    SaslPlaintext,
    SaslSsl,
}

impl SecurityProtocol {
    pub const ALL: [SecurityProtocol; 4] = [
        SecurityProtocol::Plaintext,
        SecurityProtocol::Ssl,
        SecurityProtocol::SaslPlaintext,
        SecurityProtocol::SaslSsl,
    ];

    pub const fn name(self) -> &'static str {
        match self {
            SecurityProtocol::Plaintext => "PLAINTEXT",
            SecurityProtocol::Ssl => "SSL",
            SecurityProtocol::SaslPlaintext => "SASL_PLAINTEXT",
            SecurityProtocol::SaslSsl => "SASL_SSL",
        }
    }

    /// Exact, upper-case names only (Kafka accepts no other spelling).
    /// Kafka's id of the protocol (`SecurityProtocol.id`), as broker
    /// registrations carry it.
    pub fn code(self) -> i16 {
        match self {
            SecurityProtocol::Plaintext => 0,
            SecurityProtocol::Ssl => 1,
            SecurityProtocol::SaslPlaintext => 2,
            SecurityProtocol::SaslSsl => 3,
        }
    }

    /// True for SSL and SASL_SSL.
    pub fn uses_tls(self) -> bool {
        matches!(self, SecurityProtocol::Ssl | SecurityProtocol::SaslSsl)
    }

    /// True for SASL_PLAINTEXT and SASL_SSL.
    pub fn uses_sasl(self) -> bool {
        matches!(
            self,
            SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl
        )
    }

    pub fn from_name(name: &str) -> Option<SecurityProtocol> {
        SecurityProtocol::ALL.into_iter().find(|p| p.name() == name)
    }
}

impl fmt::Display for SecurityProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One entry of `listeners` or `advertised.listeners`:
/// `NAME://host:port`, where host may be empty (all interfaces / default
/// host) or a bracketed IPv6 address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Upper-cased, as Kafka normalises listener names.
    pub listener_name: String,
    /// Without brackets; empty when not given.
    pub host: String,
    pub port: u16,
}

/// One entry of `controller.quorum.voters`: `id@host:port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumVoter {
    pub id: i32,
    pub host: String,
    pub port: u16,
}

/// Splits a comma-separated text into trimmed, non-empty items.
pub(crate) fn csv(text: &str) -> impl Iterator<Item = &str> {
    text.split(',').map(str::trim).filter(|s| !s.is_empty())
}

fn host_port(text: &str) -> Result<(String, u16), String> {
    let (host, port) = if let Some(rest) = text.strip_prefix('[') {
        let (host, after) = rest
            .split_once(']')
            .ok_or_else(|| format!("'{text}' has an unclosed '['"))?;
        let port = after
            .strip_prefix(':')
            .ok_or_else(|| format!("'{text}' has no port"))?;
        (host, port)
    } else {
        text.rsplit_once(':')
            .ok_or_else(|| format!("'{text}' has no port"))?
    };
    let port: u16 = port
        .parse()
        .map_err(|_| format!("'{port}' in '{text}' is not a port number (0 to 65535)"))?;
    Ok((host.to_string(), port))
}

/// Parses a listener list (`NAME://host:port,...`). Names must be unique.
pub fn parse_endpoints(text: &str) -> Result<Vec<Endpoint>, String> {
    let mut out: Vec<Endpoint> = Vec::new();
    for item in csv(text) {
        let (name, address) = item
            .split_once("://")
            .ok_or_else(|| format!("'{item}' is not of the form NAME://host:port"))?;
        if name.is_empty() {
            return Err(format!("'{item}' has no listener name"));
        }
        let (host, port) = host_port(address)?;
        let listener_name = name.to_ascii_uppercase();
        if out.iter().any(|e| e.listener_name == listener_name) {
            return Err(format!(
                "listener name {listener_name} appears more than once"
            ));
        }
        out.push(Endpoint {
            listener_name,
            host,
            port,
        });
    }
    Ok(out)
}

/// Parses `NAME:PROTOCOL,...`. Names (upper-cased) must be unique.
pub fn parse_protocol_map(text: &str) -> Result<Vec<(String, SecurityProtocol)>, String> {
    let mut out: Vec<(String, SecurityProtocol)> = Vec::new();
    for item in csv(text) {
        let (name, protocol) = item
            .split_once(':')
            .ok_or_else(|| format!("'{item}' is not of the form NAME:PROTOCOL"))?;
        let name = name.trim().to_ascii_uppercase();
        if name.is_empty() {
            return Err(format!("'{item}' has no listener name"));
        }
        let protocol = SecurityProtocol::from_name(protocol.trim()).ok_or_else(|| {
            format!(
                "'{}' is not a security protocol (PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL)",
                protocol.trim()
            )
        })?;
        if out.iter().any(|(n, _)| *n == name) {
            return Err(format!("listener name {name} is mapped more than once"));
        }
        out.push((name, protocol));
    }
    Ok(out)
}

/// Parses `id@host:port` voter entries.
pub fn parse_voters(items: &[String]) -> Result<Vec<QuorumVoter>, String> {
    let mut out: Vec<QuorumVoter> = Vec::new();
    for item in items.iter().filter(|i| !i.is_empty()) {
        let (id, address) = item
            .split_once('@')
            .ok_or_else(|| format!("'{item}' is not of the form id@host:port"))?;
        let id: i32 = id
            .parse()
            .ok()
            .filter(|id| *id >= 0)
            .ok_or_else(|| format!("'{id}' in '{item}' is not a node id"))?;
        let (host, port) = host_port(address)?;
        if out.iter().any(|v| v.id == id) {
            return Err(format!("voter {id} appears more than once"));
        }
        out.push(QuorumVoter { id, host, port });
    }
    Ok(out)
}

fn text(value: &ConfigValue) -> &str {
    value.as_str().unwrap_or_default()
}

pub(crate) static LISTENERS: CustomValidator = CustomValidator {
    rule: "a non-empty list of NAME://host:port",
    check: |v| {
        let endpoints = parse_endpoints(text(v))?;
        if endpoints.is_empty() {
            return Err("at least one listener is needed".to_string());
        }
        Ok(())
    },
};

pub(crate) static ADVERTISED_LISTENERS: CustomValidator = CustomValidator {
    rule: "a list of NAME://host:port, not advertising 0.0.0.0",
    check: |v| {
        for e in parse_endpoints(text(v))? {
            if e.host == "0.0.0.0" {
                return Err(format!(
                    "listener {} advertises 0.0.0.0, which clients cannot connect to",
                    e.listener_name
                ));
            }
        }
        Ok(())
    },
};

pub(crate) static PROTOCOL_MAP: CustomValidator = CustomValidator {
    rule: "a list of NAME:PROTOCOL",
    check: |v| parse_protocol_map(text(v)).map(|_| ()),
};

pub(crate) static LISTENER_NAMES: CustomValidator = CustomValidator {
    rule: "a comma-separated list of listener names",
    check: |v| {
        if csv(text(v)).any(|n| n.contains(['/', ':', '@'])) {
            return Err("listener names cannot contain '/', ':' or '@'".to_string());
        }
        Ok(())
    },
};

pub(crate) static QUORUM_VOTERS: CustomValidator = CustomValidator {
    rule: "a list of id@host:port",
    check: |v| parse_voters(v.as_list().unwrap_or_default()).map(|_| ()),
};

pub(crate) static BOOTSTRAP_SERVERS: CustomValidator = CustomValidator {
    rule: "a list of host:port",
    check: |v| {
        for item in v.as_list().unwrap_or_default() {
            host_port(item)?;
        }
        Ok(())
    },
};

pub(crate) static THROTTLED_REPLICAS: CustomValidator = CustomValidator {
    rule: "a list of partitionId:brokerId pairs, or *",
    check: |v| {
        let items = v.as_list().unwrap_or_default();
        if items.len() == 1 && items[0] == "*" {
            return Ok(());
        }
        let pair = |s: &str| {
            s.split_once(':').is_some_and(|(p, b)| {
                !p.is_empty()
                    && !b.is_empty()
                    && p.bytes().all(|c| c.is_ascii_digit())
                    && b.bytes().all(|c| c.is_ascii_digit())
            })
        };
        match items.iter().find(|s| !s.is_empty() && !pair(s)) {
            Some(bad) => Err(format!(
                "'{bad}' is not partitionId:brokerId (or use * alone for every replica)"
            )),
            None => Ok(()),
        }
    },
};

pub(crate) static GZIP_LEVEL: CustomValidator = CustomValidator {
    rule: "1 to 9, or -1 for the codec's default",
    check: |v| match v.as_i32() {
        Some(-1 | 1..=9) | None => Ok(()),
        Some(_) => Err("must be between 1 and 9, or -1".to_string()),
    },
};

pub(crate) static FORMAT_VERSION: CustomValidator = CustomValidator {
    rule: "a Kafka version such as 2.8 or 3.0-IV1",
    check: |v| {
        let s = text(v).trim();
        let (base, suffix) = match s.split_once('-') {
            Some((b, sfx)) => (b, Some(sfx)),
            None => (s, None),
        };
        let parts: Vec<&str> = base.split('.').collect();
        let base_ok = (2..=4).contains(&parts.len())
            && parts
                .iter()
                .all(|p| !p.is_empty() && p.bytes().all(|c| c.is_ascii_digit()));
        let suffix_ok = suffix.is_none_or(|sfx| {
            sfx.strip_prefix("IV")
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|c| c.is_ascii_digit()))
        });
        if base_ok && suffix_ok {
            Ok(())
        } else {
            Err(format!("'{s}' is not a Kafka version"))
        }
    },
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints() {
        let e = parse_endpoints("PLAINTEXT://:9092, controller://[::1]:9093,EXT://host.example:0")
            .unwrap();
        assert_eq!(e.len(), 3);
        assert_eq!(
            e[0],
            Endpoint {
                listener_name: "PLAINTEXT".into(),
                host: String::new(),
                port: 9092
            }
        );
        assert_eq!(e[1].listener_name, "CONTROLLER");
        assert_eq!(e[1].host, "::1");
        assert_eq!(e[2].port, 0);
        assert!(parse_endpoints("PLAINTEXT://:99999").is_err());
        assert!(parse_endpoints("localhost:9092").is_err());
        assert!(parse_endpoints("A://:1,a://:2").is_err());
    }

    #[test]
    fn protocol_map() {
        let m = parse_protocol_map("internal:SSL,EXTERNAL:SASL_SSL").unwrap();
        assert_eq!(m[0], ("INTERNAL".to_string(), SecurityProtocol::Ssl));
        assert!(parse_protocol_map("X:TLS").is_err());
        assert!(parse_protocol_map("X").is_err());
    }

    #[test]
    fn voters() {
        let v = parse_voters(&["1@localhost:9093".into(), "2@[::1]:9094".into()]).unwrap();
        assert_eq!(
            v[1],
            QuorumVoter {
                id: 2,
                host: "::1".into(),
                port: 9094
            }
        );
        assert!(parse_voters(&["x@h:1".into()]).is_err());
        assert!(parse_voters(&["1@h:1".into(), "1@g:2".into()]).is_err());
    }
}
