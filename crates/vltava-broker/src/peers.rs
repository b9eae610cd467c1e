//! Connections from this broker to the other brokers, for the requests
//! brokers send each other: a transaction coordinator's WriteTxnMarkers to
//! the leaders of the transaction's partitions, and a partition leader's
//! AddPartitionsToTxn (verify only, KIP-890) to a transaction coordinator.
//!
//! A broker is reached at its registered endpoint on the inter-broker
//! listener (`inter.broker.listener.name`), with that listener's TLS and
//! SASL (see `network::outbound`), over one `vltava-net` connection per
//! broker, made on first use and made again after a failure. A broker with
//! no endpoint of that name is not reached at all: another of its
//! endpoints may speak another protocol, or be meant for clients only.
//! Requests to one broker go one at a time; the connection's lock is held
//! across the exchange on purpose, since the connection is the request's
//! channel, and no other lock is.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use vltava_net::{ClientSecurity, ConnectionConfig, Redial};
use vltava_protocol::{ErrorCode, Request};

use crate::error::KafkaError;
use crate::metadata_cache::MetadataCache;
use crate::network::outbound::Outbound;

type Slot = Arc<tokio::sync::Mutex<Redial>>;

pub struct Peers {
    node_id: i32,
    metadata: Arc<MetadataCache>,
    request_timeout: Duration,
    /// The inter-broker listener and its security.
    outbound: Outbound,
    slots: Mutex<HashMap<i32, Slot>>,
}

impl Peers {
    pub fn new(
        node_id: i32,
        metadata: Arc<MetadataCache>,
        request_timeout: Duration,
        outbound: Outbound,
    ) -> Peers {
        Peers {
            node_id,
            metadata,
            request_timeout,
            outbound,
            slots: Mutex::new(HashMap::new()),
        }
    }

    /// Where `broker` is reached from here, if it is registered.
    pub fn address_of(&self, broker: i32) -> Option<String> {
        let image = self.metadata.image();
        let b = image.brokers.get(&broker)?;
        let endpoint = b
            .endpoints
            .iter()
            .find(|e| e.listener == self.outbound.listener)?;
        Some(format!("{}:{}", endpoint.host, endpoint.port))
    }

    /// The TLS and SASL of connections to other brokers (replica fetchers
    /// open their own).
    pub fn security(&self) -> Option<Arc<ClientSecurity>> {
        self.outbound.security.clone()
    }

    /// Sends `request` to `broker` and returns its answer.
    pub async fn send<R: Request>(
        &self,
        broker: i32,
        request: &R,
    ) -> Result<R::Response, KafkaError> {
        let unreachable = |why: &dyn std::fmt::Display| {
            KafkaError::new(
                ErrorCode::NOT_LEADER_OR_FOLLOWER,
                format!("broker {broker} cannot be reached: {why}"),
            )
        };
        let addr = self
            .address_of(broker)
            .ok_or_else(|| unreachable(&"it is not registered"))?;
        let slot = self
            .slots
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(broker)
            .or_insert_with(|| {
                Arc::new(tokio::sync::Mutex::new(Redial::new(ConnectionConfig {
                    client_id: Some(format!("broker-{}", self.node_id)),
                    connect_timeout: self.request_timeout,
                    request_timeout: self.request_timeout,
                    security: self.outbound.security.clone(),
                    ..ConnectionConfig::default()
                })))
            })
            .clone();
        // A broker that re-registered at another address gets a new
        // connection (Redial compares the address).
        let mut redial = slot.lock().await;
        redial
            .send(&addr, request, None)
            .await
            .map_err(|e| unreachable(&e))
    }
}
