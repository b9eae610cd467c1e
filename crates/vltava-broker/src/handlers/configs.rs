//! DescribeConfigs, AlterConfigs and IncrementalAlterConfigs for topics and
//! brokers. Values, sources, synonyms and types come from `vltava-config`;
//! changes are written as Config records by the controller.

use std::collections::BTreeMap;

use vltava_config::{AlterConfigOp, BrokerConfig, ConfigSource, DescribedConfig};
use vltava_metadata::controller::validate_topic_name;
use vltava_metadata::image::{RESOURCE_BROKER, RESOURCE_TOPIC};
use vltava_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult, DescribeConfigsSynonym,
};
use vltava_protocol::messages::*;
use vltava_protocol::{ErrorCode, ResponseBody};

use crate::broker::Broker;
use crate::error::KafkaError;
use crate::handlers::authz::{Access, Kind, Op};
use crate::handlers::RequestContext;
use crate::metadata_cache::topic_config;

pub fn describe_configs(
    broker: &Broker,
    context: &RequestContext<'_>,
    request: DescribeConfigsRequest,
) -> ResponseBody {
    let version = context.version;
    let access = Access::of(broker, context);
    let results = request
        .resources
        .into_iter()
        .map(|resource| {
            let described: Result<Vec<DescribedConfig>, KafkaError> = match resource.resource_type {
                kind if !config_allowed(
                    &access,
                    Op::DescribeConfigs,
                    kind,
                    &resource.resource_name,
                ) =>
                {
                    Err(config_refused(kind))
                }
                RESOURCE_TOPIC => {
                    let image = broker.metadata.image();
                    // As Kafka's ConfigHelper: a name no topic can have is
                    // INVALID_TOPIC_EXCEPTION, not an unknown topic.
                    if let Err(refusal) = validate_topic_name(&resource.resource_name) {
                        Err(refusal.into())
                    } else if image.topic(&resource.resource_name).is_none() {
                        Err(KafkaError::new(
                            ErrorCode::UNKNOWN_TOPIC_OR_PARTITION,
                            format!("Topic {} does not exist.", resource.resource_name),
                        ))
                    } else {
                        let config = broker.metadata.config();
                        Ok(topic_config(&image, &resource.resource_name)
                            .describe(&config)
                            .collect())
                    }
                }
                RESOURCE_BROKER => broker_resource(broker, &resource.resource_name).map(|c| {
                    if resource.resource_name.is_empty() {
                        c.describe().filter_map(cluster_default).collect()
                    } else {
                        c.describe().collect()
                    }
                }),
                other => Err(KafkaError::new(
                    ErrorCode::INVALID_REQUEST,
                    format!("Resource type {other} is not supported."),
                )),
            };
            match described {
                Ok(configs) => DescribeConfigsResult {
                    error_code: 0,
                    resource_type: resource.resource_type,
                    configs: configs
                        .into_iter()
                        .filter(|c| {
                            resource
                                .configuration_keys
                                .as_ref()
                                .is_none_or(|keys| keys.iter().any(|k| k == c.name))
                        })
                        .map(|c| {
                            entry(
                                c,
                                version,
                                request.include_synonyms,
                                request.include_documentation,
                            )
                        })
                        .collect(),
                    resource_name: resource.resource_name,
                    ..Default::default()
                },
                Err(KafkaError { code, message }) => DescribeConfigsResult {
                    error_code: code.code(),
                    error_message: Some(message),
                    resource_type: resource.resource_type,
                    resource_name: resource.resource_name,
                    ..Default::default()
                },
            }
        })
        .collect();
    ResponseBody::DescribeConfigs(DescribeConfigsResponse {
        results,
        ..Default::default()
    })
}

/// A broker resource is this node's id, or "" for the cluster-wide default.
fn broker_resource(
    broker: &Broker,
    name: &str,
) -> Result<std::sync::Arc<BrokerConfig>, KafkaError> {
    if name.is_empty() || name == broker.node_id.to_string() {
        Ok(broker.metadata.config())
    } else {
        Err(KafkaError::new(
            ErrorCode::INVALID_REQUEST,
            format!("Broker {name} is not this broker ({}).", broker.node_id),
        ))
    }
}

/// A broker resource to change: "" (the cluster-wide default) or any
/// broker's id. Changes are made by the active controller, which gets
/// them relayed from the broker the client sent them to (the Admin client
/// sends a broker's own configs to that broker): it must not require the
/// id to be its own, as Kafka's controller does not.
fn alterable_broker_resource(name: &str) -> Result<(), KafkaError> {
    if name.is_empty() || name.parse::<i32>().is_ok_and(|id| id >= 0) {
        Ok(())
    } else {
        Err(KafkaError::new(
            ErrorCode::INVALID_REQUEST,
            format!("Invalid broker name {name}: a broker id or the empty default."),
        ))
    }
}

/// The cluster-wide default resource ("") holds only the keys set as
/// dynamic cluster defaults, each with that level's value and synonyms
/// alone, as Kafka's ConfigHelper describes it (`perBrokerConfig = false`):
/// the values of a broker, its static settings and the defaults belong to
/// the broker's own resource.
fn cluster_default(mut c: DescribedConfig) -> Option<DescribedConfig> {
    c.synonyms
        .retain(|s| s.source == ConfigSource::DynamicDefaultBrokerConfig);
    let own = c.synonyms.iter().find(|s| s.name == c.name)?;
    c.value = own.value.clone();
    c.source = ConfigSource::DynamicDefaultBrokerConfig;
    Some(c)
}

fn entry(
    c: DescribedConfig,
    version: i16,
    include_synonyms: bool,
    include_documentation: bool,
) -> DescribeConfigsResourceResult {
    // IsDefault exists only in v0; v1+ carry ConfigSource instead.
    let is_default = version == 0 && c.source == ConfigSource::DefaultConfig;
    DescribeConfigsResourceResult {
        name: c.name.to_string(),
        value: c.value,
        read_only: c.read_only,
        is_default,
        config_source: c.source.code(),
        is_sensitive: c.is_sensitive,
        synonyms: if include_synonyms {
            c.synonyms
                .into_iter()
                .map(|s| DescribeConfigsSynonym {
                    name: s.name.to_string(),
                    value: s.value,
                    source: s.source.code(),
                    ..Default::default()
                })
                .collect()
        } else {
            Vec::new()
        },
        config_type: c.config_type.describe_code(),
        documentation: include_documentation.then(|| c.documentation.to_string()),
        ..Default::default()
    }
}

fn alter_response(
    resource_type: i8,
    resource_name: String,
    result: Result<(), KafkaError>,
) -> (i16, Option<String>, i8, String) {
    match result {
        Ok(()) => (0, None, resource_type, resource_name),
        // Kafka refuses a broker config it cannot apply (a bad value, a
        // read-only key) with INVALID_REQUEST: its dynamic broker config
        // validation raises InvalidRequestException where a topic's raises
        // InvalidConfigurationException.
        Err(KafkaError { code, message })
            if resource_type == RESOURCE_BROKER && code == ErrorCode::INVALID_CONFIG =>
        {
            (
                ErrorCode::INVALID_REQUEST.code(),
                Some(message),
                resource_type,
                resource_name,
            )
        }
        Err(KafkaError { code, message }) => {
            (code.code(), Some(message), resource_type, resource_name)
        }
    }
}

/// Kafka's config checks: the operation on the topic, or on the cluster
/// for a broker's configs; other resource types are refused later as
/// unsupported.
fn config_allowed(access: &Access, operation: Op, resource_type: i8, name: &str) -> bool {
    match resource_type {
        RESOURCE_TOPIC => access.allows(operation, Kind::Topic, name),
        RESOURCE_BROKER => access.allows_cluster(operation),
        _ => true,
    }
}

fn config_refused(resource_type: i8) -> KafkaError {
    let code = if resource_type == RESOURCE_TOPIC {
        ErrorCode::TOPIC_AUTHORIZATION_FAILED
    } else {
        ErrorCode::CLUSTER_AUTHORIZATION_FAILED
    };
    KafkaError::new(code, code.message())
}

/// AlterConfigs: the given set replaces all of the resource's overrides.
pub async fn alter_configs(
    broker: &Broker,
    context: &RequestContext<'_>,
    request: AlterConfigsRequest,
) -> ResponseBody {
    let access = Access::of(broker, context);
    let mut responses = Vec::with_capacity(request.resources.len());
    for resource in request.resources {
        let mut overrides = BTreeMap::new();
        let mut bad = None;
        for c in resource.configs {
            match c.value {
                Some(v) => {
                    overrides.insert(c.name, v);
                }
                None => {
                    bad = Some(KafkaError::new(
                        ErrorCode::INVALID_REQUEST,
                        format!("Null value not supported for {}", c.name),
                    ))
                }
            }
        }
        let result = match (bad, resource.resource_type) {
            (_, kind)
                if !config_allowed(&access, Op::AlterConfigs, kind, &resource.resource_name) =>
            {
                Err(config_refused(kind))
            }
            (Some(e), _) => Err(e),
            (None, RESOURCE_TOPIC) => {
                broker
                    .controller
                    .set_topic_configs(&resource.resource_name, overrides, request.validate_only)
                    .await
            }
            (None, RESOURCE_BROKER) => match alterable_broker_resource(&resource.resource_name) {
                Ok(_) => {
                    broker
                        .controller
                        .set_broker_configs(
                            &resource.resource_name,
                            overrides,
                            request.validate_only,
                        )
                        .await
                }
                Err(e) => Err(e),
            },
            (None, other) => Err(KafkaError::new(
                ErrorCode::INVALID_REQUEST,
                format!("Resource type {other} is not supported."),
            )),
        };
        let (error_code, error_message, resource_type, resource_name) =
            alter_response(resource.resource_type, resource.resource_name, result);
        responses.push(alter_configs_response::AlterConfigsResourceResponse {
            error_code,
            error_message,
            resource_type,
            resource_name,
            ..Default::default()
        });
    }
    ResponseBody::AlterConfigs(AlterConfigsResponse {
        responses,
        ..Default::default()
    })
}

/// IncrementalAlterConfigs: SET / DELETE / APPEND / SUBTRACT on the current overrides.
pub async fn incremental_alter_configs(
    broker: &Broker,
    context: &RequestContext<'_>,
    request: IncrementalAlterConfigsRequest,
) -> ResponseBody {
    let access = Access::of(broker, context);
    let mut responses = Vec::with_capacity(request.resources.len());
    for resource in request.resources {
        let ops: Result<Vec<AlterConfigOp>, KafkaError> = resource
            .configs
            .iter()
            .map(|c| {
                AlterConfigOp::from_wire(&c.name, c.config_operation, c.value.as_deref())
                    .map_err(KafkaError::from)
            })
            .collect();
        let result = match ops {
            _ if !config_allowed(
                &access,
                Op::AlterConfigs,
                resource.resource_type,
                &resource.resource_name,
            ) =>
            {
                Err(config_refused(resource.resource_type))
            }
            Err(e) => Err(e),
            Ok(ops) => match resource.resource_type {
                RESOURCE_TOPIC => {
                    let current = broker
                        .metadata
                        .image()
                        .topic_configs(&resource.resource_name);
                    match vltava_config::incremental_alter_topic(&current, &ops) {
                        Ok(next) => {
                            broker
                                .controller
                                .set_topic_configs(
                                    &resource.resource_name,
                                    next,
                                    request.validate_only,
                                )
                                .await
                        }
                        Err(e) => Err(e.into()),
                    }
                }
                RESOURCE_BROKER => match alterable_broker_resource(&resource.resource_name) {
                    Err(e) => Err(e),
                    Ok(_) => {
                        let image = broker.metadata.image();
                        let mut next: BTreeMap<String, String> =
                            (*image.broker_configs(&resource.resource_name)).clone();
                        let mut bad = None;
                        for op in ops {
                            match op.op {
                                vltava_config::AlterOpType::Set => {
                                    next.insert(op.name, op.value.unwrap_or_default());
                                }
                                vltava_config::AlterOpType::Delete => {
                                    next.remove(&op.name);
                                }
                                _ => bad = Some(KafkaError::new(ErrorCode::INVALID_REQUEST, format!("APPEND and SUBTRACT are not supported for broker config {}", op.name))),
                            }
                        }
                        match bad {
                            Some(e) => Err(e),
                            None => {
                                broker
                                    .controller
                                    .set_broker_configs(
                                        &resource.resource_name,
                                        next,
                                        request.validate_only,
                                    )
                                    .await
                            }
                        }
                    }
                },
                other => Err(KafkaError::new(
                    ErrorCode::INVALID_REQUEST,
                    format!("Resource type {other} is not supported."),
                )),
            },
        };
        let (error_code, error_message, resource_type, resource_name) =
            alter_response(resource.resource_type, resource.resource_name, result);
        responses.push(
            incremental_alter_configs_response::AlterConfigsResourceResponse {
                error_code,
                error_message,
                resource_type,
                resource_name,
                ..Default::default()
            },
        );
    }
    ResponseBody::IncrementalAlterConfigs(IncrementalAlterConfigsResponse {
        responses,
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every version the broker serves can carry the entries it builds:
    /// IsDefault exists only in v0 and must stay at its default after that.
    #[test]
    fn describe_configs_entries_encode_in_every_version() {
        let config = BrokerConfig::new();
        for version in 0..=4 {
            let configs = config
                .describe()
                .map(|c| entry(c, version, version >= 1, version >= 3))
                .collect();
            let body = ResponseBody::DescribeConfigs(DescribeConfigsResponse {
                results: vec![DescribeConfigsResult {
                    resource_type: RESOURCE_BROKER,
                    resource_name: "1".into(),
                    configs,
                    ..Default::default()
                }],
                ..Default::default()
            });
            let mut buf = bytes::BytesMut::new();
            vltava_protocol::header::encode_response(7, &body, version, &mut buf)
                .unwrap_or_else(|e| panic!("DescribeConfigs v{version}: {e}"));
        }
    }

    /// A broker config refused as invalid is INVALID_REQUEST, as in Kafka;
    /// a topic's stays INVALID_CONFIG.
    #[test]
    fn refused_broker_configs_are_invalid_request() {
        let refused = || {
            Err(KafkaError::new(
                ErrorCode::INVALID_CONFIG,
                "bad".to_string(),
            ))
        };
        let broker = alter_response(RESOURCE_BROKER, "1".into(), refused());
        assert_eq!(broker.0, ErrorCode::INVALID_REQUEST.code());
        let topic = alter_response(RESOURCE_TOPIC, "t".into(), refused());
        assert_eq!(topic.0, ErrorCode::INVALID_CONFIG.code());
    }

    /// The cluster-wide default resource lists only the dynamic cluster
    /// defaults, with that level alone as synonyms, even where the broker
    /// overrides the key (`kafka-configs --entity-default --describe`).
    #[test]
    fn the_cluster_default_resource_holds_only_dynamic_defaults() {
        let mut config = BrokerConfig::new();
        config
            .set_dynamic_default("log.cleaner.backoff.ms", "20000")
            .unwrap();
        config
            .set_dynamic("log.cleaner.backoff.ms", "30000")
            .unwrap();
        config.set_dynamic("log.cleaner.threads", "2").unwrap();
        let described: Vec<DescribedConfig> =
            config.describe().filter_map(cluster_default).collect();
        assert_eq!(described.len(), 1, "{described:?}");
        let c = &described[0];
        assert_eq!(c.name, "log.cleaner.backoff.ms");
        assert_eq!(c.value.as_deref(), Some("20000"));
        assert_eq!(c.source, ConfigSource::DynamicDefaultBrokerConfig);
        assert_eq!(c.synonyms.len(), 1);
        assert_eq!(
            c.synonyms[0].source,
            ConfigSource::DynamicDefaultBrokerConfig
        );
    }
}
