//! What this broker knows of the cluster: the last published metadata
//! image, and the effective broker config (the static config with the
//! image's dynamic broker configs applied), kept in step with it.
//!
//! Readers take an `Arc` snapshot and never hold a lock while they use it;
//! only the controller publishes, after the records behind the new image
//! are in the metadata log.

use std::sync::{Arc, RwLock};

use tracing::warn;
use vltava_acl::Authorizer;
use vltava_config::{BrokerConfig, TopicConfig};
use vltava_metadata::image::AclMap;
use vltava_metadata::MetadataImage;

pub struct MetadataCache {
    node_id: i32,
    /// The configuration from the file and the command line.
    static_config: BrokerConfig,
    /// `static_config` plus the dynamic broker configs in the image.
    config: RwLock<Arc<BrokerConfig>>,
    image: RwLock<Arc<MetadataImage>>,
    /// The authorizer over the ACLs of the map it was built from; built
    /// again only when an image with other ACLs is asked about.
    authorizer: RwLock<(Arc<AclMap>, Arc<Authorizer>)>,
}

impl MetadataCache {
    pub fn new(static_config: BrokerConfig, node_id: i32, image: MetadataImage) -> MetadataCache {
        let config = effective_broker_config(&static_config, &image, node_id);
        let authorizer = build_authorizer(&static_config, image.acl_map());
        MetadataCache {
            node_id,
            static_config,
            config: RwLock::new(Arc::new(config)),
            authorizer: RwLock::new((image.acl_map().clone(), Arc::new(authorizer))),
            image: RwLock::new(Arc::new(image)),
        }
    }

    /// Whether ACLs are checked: `authorizer.class.name` is Kafka's
    /// `StandardAuthorizer` (the config refuses any other non-empty value).
    pub fn authorizer_enabled(&self) -> bool {
        self.static_config.authorizer_enabled()
    }

    /// The authorizer over the current image's ACLs, with `super.users` and
    /// `allow.everyone.if.no.acl.found` (both read-only configs, so only
    /// the ACLs can change it). Built again only after the ACLs changed.
    pub fn authorizer(&self) -> Arc<Authorizer> {
        let acls = self.image().acl_map().clone();
        {
            let cached = self.authorizer.read().unwrap_or_else(|e| e.into_inner());
            if Arc::ptr_eq(&cached.0, &acls) {
                return cached.1.clone();
            }
        }
        let mut cached = self.authorizer.write().unwrap_or_else(|e| e.into_inner());
        if !Arc::ptr_eq(&cached.0, &acls) {
            let authorizer = Arc::new(build_authorizer(&self.static_config, &acls));
            *cached = (acls, authorizer);
        }
        cached.1.clone()
    }

    pub fn image(&self) -> Arc<MetadataImage> {
        self.image.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn config(&self) -> Arc<BrokerConfig> {
        self.config
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn static_config(&self) -> &BrokerConfig {
        &self.static_config
    }

    /// Makes `image` the current one, with the broker config it implies.
    /// The config goes first: a reader that sees the new image also sees
    /// its dynamic configs.
    pub fn publish(&self, image: MetadataImage) {
        let config = effective_broker_config(&self.static_config, &image, self.node_id);
        *self.config.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(config);
        *self.image.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(image);
    }
}

fn build_authorizer(config: &BrokerConfig, acls: &AclMap) -> Authorizer {
    let mut authorizer = Authorizer::new(
        config.super_users(),
        config.allow_everyone_if_no_acl_found(),
    );
    for (id, binding) in acls {
        authorizer.add_acl(*id, binding.clone());
    }
    authorizer
}

/// The static config with the image's dynamic broker configs applied.
fn effective_broker_config(
    static_config: &BrokerConfig,
    image: &MetadataImage,
    node_id: i32,
) -> BrokerConfig {
    let mut config = static_config.clone();
    for (k, v) in image.broker_configs("").iter() {
        if let Err(e) = config.set_dynamic_default(k, v) {
            warn!("ignoring cluster-wide dynamic config {k}: {e}");
        }
    }
    for (k, v) in image.broker_configs(&node_id.to_string()).iter() {
        if let Err(e) = config.set_dynamic(k, v) {
            warn!("ignoring dynamic config {k}: {e}");
        }
    }
    config
}

/// The effective config of a topic, for DescribeConfigs.
pub fn topic_config(image: &MetadataImage, topic: &str) -> TopicConfig {
    let overrides = image.topic_configs(topic);
    TopicConfig::from_overrides(overrides.iter()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use vltava_acl::*;
    use vltava_metadata::MetadataRecord;
    use vltava_protocol::Uuid;

    fn config(props: &[(&str, &str)]) -> BrokerConfig {
        BrokerConfig::from_sources(
            props
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            vec![],
        )
        .unwrap()
    }

    fn add(id: u8, principal: &str) -> MetadataRecord {
        MetadataRecord::AccessControlEntry {
            id: Uuid([id; 16]),
            binding: AclBinding::new(
                ResourcePattern::new(ResourceType::Topic, "t", PatternType::Literal),
                AccessControlEntry::new(
                    principal,
                    "*",
                    AclOperation::Read,
                    AclPermissionType::Allow,
                ),
            ),
        }
    }

    #[test]
    fn the_authorizer_follows_the_acls_and_is_built_only_when_they_change() {
        let cache = MetadataCache::new(
            config(&[
                ("authorizer.class.name", vltava_config::STANDARD_AUTHORIZER),
                ("super.users", "User:admin"),
            ]),
            1,
            MetadataImage::empty(),
        );
        assert!(cache.authorizer_enabled());
        let topic = Resource::new(ResourceType::Topic, "t");
        let alice = RequestContext::new(KafkaPrincipal::user("alice"), "10.0.0.1");
        let admin = RequestContext::new(KafkaPrincipal::user("admin"), "10.0.0.1");
        let first = cache.authorizer();
        assert!(first.is_empty());
        assert_eq!(
            first.authorize(&alice, AclOperation::Read, &topic),
            Decision::Denied
        );
        assert_eq!(
            first.authorize(&admin, AclOperation::Write, &topic),
            Decision::Allowed
        );
        // Asked again with no change: the same authorizer.
        assert!(Arc::ptr_eq(&first, &cache.authorizer()));

        let image = cache.image().apply(0, &add(1, "User:alice")).unwrap();
        cache.publish(image);
        let second = cache.authorizer();
        assert!(!Arc::ptr_eq(&first, &second));
        assert_eq!(
            second.authorize(&alice, AclOperation::Read, &topic),
            Decision::Allowed
        );
        // A change that is not to the ACLs keeps it.
        let image = cache
            .image()
            .apply(
                1,
                &MetadataRecord::ProducerIds {
                    broker_id: 1,
                    next_producer_id: 1000,
                },
            )
            .unwrap();
        cache.publish(image);
        assert!(Arc::ptr_eq(&second, &cache.authorizer()));

        let without = MetadataCache::new(config(&[]), 1, MetadataImage::empty());
        assert!(!without.authorizer_enabled());
        let open = MetadataCache::new(
            config(&[("allow.everyone.if.no.acl.found", "true")]),
            1,
            MetadataImage::empty(),
        );
        assert_eq!(
            open.authorizer()
                .authorize(&alice, AclOperation::Read, &topic),
            Decision::Allowed
        );
    }
}
