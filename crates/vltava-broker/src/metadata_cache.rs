//! What this broker knows of the cluster: the last published metadata
//! image, and the effective broker config (the static config with the
//! image's dynamic broker configs applied), kept in step with it.
//!
//! Readers take an `Arc` snapshot and never hold a lock while they use it;
//! only the controller publishes, after the records behind the new image
//! are in the metadata log.

use std::sync::{Arc, RwLock};

use tracing::warn;
use vltava_config::{BrokerConfig, TopicConfig};
use vltava_metadata::MetadataImage;

pub struct MetadataCache {
    node_id: i32,
    /// The configuration from the file and the command line.
    static_config: BrokerConfig,
    /// `static_config` plus the dynamic broker configs in the image.
    config: RwLock<Arc<BrokerConfig>>,
    image: RwLock<Arc<MetadataImage>>,
}

impl MetadataCache {
    pub fn new(static_config: BrokerConfig, node_id: i32, image: MetadataImage) -> MetadataCache {
        let config = effective_broker_config(&static_config, &image, node_id);
        MetadataCache {
            node_id,
            static_config,
            config: RwLock::new(Arc::new(config)),
            image: RwLock::new(Arc::new(image)),
        }
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
