//! The leader's ISR changes (KIP-497): every `replica.lag.time.max.ms / 2`,
//! and at once when a follower outside the ISR fetches, each partition this
//! broker leads is asked whether its ISR should change; the changes go to
//! the active controller in one AlterPartition, and each partition takes
//! the controller's answer (the committed state, or a refusal after which
//! it may propose again).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tracing::warn;
use vltava_metadata::MetadataImage;
use vltava_protocol::messages::{alter_partition_request as req, AlterPartitionRequest};
use vltava_protocol::{ErrorCode, Uuid};
use vltava_replication::PartitionState;

use super::fetcher::FetcherDeps;
use crate::replica::Partition;

/// Whether the controller would let `broker` (fetching with
/// `broker_epoch`, -1 if unknown) join an ISR: registered at that epoch,
/// unfenced and not shutting down.
fn may_join(image: &MetadataImage, broker: i32, broker_epoch: i64) -> bool {
    image.brokers.get(&broker).is_some_and(|b| {
        !b.fenced && !b.in_controlled_shutdown && (broker_epoch < 0 || broker_epoch == b.epoch)
    })
}

pub async fn run(deps: FetcherDeps, mut shutdown: watch::Receiver<bool>) {
    let lag = deps.metadata.config().replica_lag_time_max_ms().max(2);
    let period = Duration::from_millis((lag / 2) as u64);
    loop {
        tokio::select! {
            _ = tokio::time::sleep(period) => {}
            _ = deps.replicas.isr_check().notified() => {}
            _ = shutdown.wait_for(|s| *s) => return,
        }
        let now = deps.clock.now_ms();
        let image = deps.metadata.image();
        let mut changes: Vec<(Arc<Partition>, vltava_replication::IsrProposal)> = Vec::new();
        for p in deps.replicas.all() {
            if let Some(proposal) =
                p.propose_isr_change(now, |id, epoch| may_join(&image, id, epoch))
            {
                changes.push((p, proposal));
            }
        }
        if changes.is_empty() {
            continue;
        }
        tokio::select! {
            _ = send(&deps, changes) => {}
            _ = shutdown.wait_for(|s| *s) => return,
        }
    }
}

async fn send(deps: &FetcherDeps, changes: Vec<(Arc<Partition>, vltava_replication::IsrProposal)>) {
    let mut request = AlterPartitionRequest {
        broker_id: deps.node_id,
        broker_epoch: deps.channel.broker_epoch().unwrap_or(-1),
        ..Default::default()
    };
    for (p, proposal) in &changes {
        let partition = req::PartitionData {
            partition_index: p.index,
            leader_epoch: proposal.leader_epoch,
            new_isr_with_epochs: proposal
                .new_isr
                .iter()
                .map(|(id, epoch)| req::BrokerState {
                    broker_id: *id,
                    broker_epoch: *epoch,
                    ..Default::default()
                })
                .collect(),
            leader_recovery_state: 0,
            partition_epoch: proposal.partition_epoch,
            ..Default::default()
        };
        match request
            .topics
            .iter_mut()
            .find(|t| t.topic_id == Uuid(p.topic_id.0))
        {
            Some(t) => t.partitions.push(partition),
            None => request.topics.push(req::TopicData {
                topic_id: Uuid(p.topic_id.0),
                partitions: vec![partition],
                ..Default::default()
            }),
        }
    }
    let response = match deps.channel.alter_partition(&request).await {
        Ok(r) if r.error_code == 0 => r,
        Ok(r) => {
            warn!("AlterPartition refused: {:?}", ErrorCode(r.error_code));
            for (p, _) in &changes {
                p.isr_change_done(Err(ErrorCode(r.error_code)));
            }
            return;
        }
        Err(e) => {
            warn!("AlterPartition failed: {e}");
            for (p, _) in &changes {
                p.isr_change_done(Err(e.code));
            }
            return;
        }
    };
    for (p, _) in &changes {
        let answer = response
            .topics
            .iter()
            .filter(|t| t.topic_id == Uuid(p.topic_id.0) || t.topic_name == p.topic)
            .flat_map(|t| t.partitions.iter())
            .find(|d| d.partition_index == p.index);
        let result = match answer {
            None => Err(ErrorCode::UNKNOWN_SERVER_ERROR),
            Some(d) if d.error_code != 0 => Err(ErrorCode(d.error_code)),
            // AlterPartition never changes the replicas: the leader keeps
            // its own (`isr_change_done` fills them in).
            Some(d) => Ok(PartitionState {
                replicas: Vec::new(),
                isr: d.isr.clone(),
                leader_epoch: d.leader_epoch,
                partition_epoch: d.partition_epoch,
            }),
        };
        p.isr_change_done(result);
    }
}
