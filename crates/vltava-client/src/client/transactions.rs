//! Transaction administration, as Kafka's `kafka-transactions.sh` offers
//! it: list the transactional ids the brokers coordinate (ListTransactions
//! to every broker) and describe one (DescribeTransactions to its
//! coordinator). This client does not run transactions itself.

use std::collections::BTreeMap;

use tracing::debug;
use vltava_protocol::messages::{DescribeTransactionsRequest, ListTransactionsRequest};
use vltava_protocol::{ApiKey, ErrorCode};

use super::groups::group_retriable;
use super::Client;
use crate::error::{Error, Result};
use crate::types::{ListedTransaction, TransactionDescription};

/// FindCoordinator's key type of a transactional id.
const TRANSACTION_KEY_TYPE: i8 = 1;

impl Client {
    /// Every transactional id of the cluster, sorted; only those in one of
    /// `states` (Kafka's state names: Ongoing, CompleteCommit, ...) when
    /// some are given.
    pub async fn list_transactions(&mut self, states: &[String]) -> Result<Vec<ListedTransaction>> {
        self.metadata(Some(&[])).await?;
        let nodes: Vec<i32> = self.brokers.keys().copied().collect();
        let mut all: BTreeMap<String, ListedTransaction> = BTreeMap::new();
        for node in nodes {
            let mut attempt = 0;
            let listed = loop {
                match self.list_transactions_on(node, states).await {
                    Ok(listed) => break listed,
                    Err(e) if attempt < self.config.retries && group_retriable(&e) => {
                        debug!(node, attempt, error = %e, "retrying");
                        attempt += 1;
                        tokio::time::sleep(self.config.retry_backoff).await;
                    }
                    Err(e) => return Err(e),
                }
            };
            for t in listed {
                all.insert(t.transactional_id.clone(), t);
            }
        }
        Ok(all.into_values().collect())
    }

    async fn list_transactions_on(
        &mut self,
        node: i32,
        states: &[String],
    ) -> Result<Vec<ListedTransaction>> {
        let conn = self.connection(node).await?;
        let version = conn.negotiated_version(ApiKey::ListTransactions)?;
        let request = ListTransactionsRequest {
            state_filters: states.to_vec(),
            duration_filter: -1,
            ..Default::default()
        };
        let resp = conn.send_version(&request, version).await?;
        let code = ErrorCode(resp.error_code);
        if code.is_error() {
            return Err(Error::broker(
                code,
                None,
                format!("list the transactions of broker {node}"),
            ));
        }
        if let Some(unknown) = resp.unknown_state_filters.first() {
            return Err(Error::Protocol(format!(
                "broker {node} does not know the transaction state {unknown:?}"
            )));
        }
        Ok(resp
            .transaction_states
            .into_iter()
            .map(|t| ListedTransaction {
                transactional_id: t.transactional_id,
                producer_id: t.producer_id,
                state: t.transaction_state,
            })
            .collect())
    }

    /// Describes one transactional id, at its coordinator.
    pub async fn describe_transaction(
        &mut self,
        transactional_id: &str,
    ) -> Result<TransactionDescription> {
        let mut attempt = 0;
        loop {
            match self.describe_transaction_once(transactional_id).await {
                Err(e) if attempt < self.config.retries && group_retriable(&e) => {
                    debug!(transactional_id, attempt, error = %e, "retrying");
                    attempt += 1;
                    tokio::time::sleep(self.config.retry_backoff).await;
                }
                other => return other,
            }
        }
    }

    async fn describe_transaction_once(
        &mut self,
        transactional_id: &str,
    ) -> Result<TransactionDescription> {
        let node = self
            .locate_coordinator(TRANSACTION_KEY_TYPE, transactional_id)
            .await?
            .node_id;
        let conn = self.connection(node).await?;
        let request = DescribeTransactionsRequest {
            transactional_ids: vec![transactional_id.to_string()],
            ..Default::default()
        };
        let resp = conn.send(&request).await?;
        let t = resp
            .transaction_states
            .into_iter()
            .find(|t| t.transactional_id == transactional_id)
            .ok_or_else(|| {
                Error::Protocol(format!(
                    "DescribeTransactions answer leaves out {transactional_id}"
                ))
            })?;
        let code = ErrorCode(t.error_code);
        if code.is_error() {
            return Err(Error::broker(
                code,
                None,
                format!("describe transactional id {transactional_id}"),
            ));
        }
        Ok(TransactionDescription {
            transactional_id: t.transactional_id,
            coordinator_id: node,
            state: t.transaction_state,
            producer_id: t.producer_id,
            producer_epoch: t.producer_epoch,
            timeout_ms: t.transaction_timeout_ms,
            start_time_ms: t.transaction_start_time_ms,
            partitions: t
                .topics
                .into_iter()
                .flat_map(|topic| {
                    let name = topic.topic;
                    topic.partitions.into_iter().map(move |p| (name.clone(), p))
                })
                .collect(),
        })
    }
}
