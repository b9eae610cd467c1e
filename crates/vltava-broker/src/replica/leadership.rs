//! A hosted partition's place in replication: leader (with the
//! `vltava-replication` bookkeeping of its followers), follower of another
//! broker, or neither (the controller named no leader). The role comes from
//! the metadata image, set by `ReplicaManager::sync`; everything here reads
//! and changes it under the partition's role lock, which is never held
//! across disk or network I/O (the log's in-memory epoch cache is read under
//! it, nothing more).
//!
//! The high watermark lives in an atomic beside the role so fetches read it
//! without the lock: the leader raises it as followers report their log
//! ends, a follower takes it from its leader's fetch responses.

use std::sync::atomic::Ordering;
use std::time::Instant;

use bytes::Bytes;
use tracing::{debug, info, warn};
use vltava_protocol::ErrorCode;
use vltava_replication::{
    check_leader_epoch, diverging_epoch, AcksOutcome, EpochMismatch, FollowerFetchError,
    IsrProposal, LeaderState, PartitionState,
};

use super::Partition;
use crate::error::KafkaError;

/// What this broker is for one partition.
#[derive(Debug)]
pub enum Role {
    /// It leads; the state tracks its followers.
    Leader(Box<LeaderState>),
    /// It follows `leader` in `leader_epoch`.
    Follower { leader: i32, leader_epoch: i32 },
    /// The controller named no leader (every ISR member is gone), or this
    /// broker is no longer a replica and the partition is on its way out.
    Offline { leader_epoch: i32 },
}

impl Role {
    pub fn leader_epoch(&self) -> i32 {
        match self {
            Role::Leader(l) => l.leader_epoch(),
            Role::Follower { leader_epoch, .. } | Role::Offline { leader_epoch } => *leader_epoch,
        }
    }
}

/// What the leader makes of one follower fetch.
#[derive(Debug, Default)]
pub struct FollowerFetch {
    /// Fetch v12's DivergingEpoch: the follower's log has records the
    /// leader does not; it truncates before fetching on.
    pub diverging: Option<(i32, i64)>,
    /// The follower is outside the ISR: an expansion may now be due.
    pub outside_isr: bool,
}

fn not_leader(partition: &Partition, role: &Role) -> KafkaError {
    let who = match role {
        Role::Follower { leader, .. } => format!("broker {leader} leads it"),
        Role::Offline { .. } => "it has no leader at the moment".to_string(),
        Role::Leader(_) => unreachable!("called for non-leaders"),
    };
    KafkaError::new(
        ErrorCode::NOT_LEADER_OR_FOLLOWER,
        format!(
            "this broker does not lead {}-{}: {who}",
            partition.topic, partition.index
        ),
    )
}

fn epoch_error(mismatch: EpochMismatch) -> ErrorCode {
    match mismatch {
        EpochMismatch::Fenced => ErrorCode::FENCED_LEADER_EPOCH,
        EpochMismatch::Unknown => ErrorCode::UNKNOWN_LEADER_EPOCH,
    }
}

/// A request's leader epoch against `epoch`, the one this replica is in
/// (KIP-320); `epoch` when they agree (or the request names none).
fn request_epoch_checked(epoch: i32, current_leader_epoch: i32) -> Result<i32, KafkaError> {
    check_leader_epoch(epoch, current_leader_epoch).map_err(|m| {
        KafkaError::new(
            epoch_error(m),
            format!("leader epoch {current_leader_epoch} of the request, {epoch} here"),
        )
    })?;
    Ok(epoch)
}

impl Partition {
    fn role(&self) -> std::sync::MutexGuard<'_, Role> {
        self.role.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The leader epoch this partition is in, as this broker knows it.
    pub fn leader_epoch(&self) -> i32 {
        self.role().leader_epoch()
    }

    /// The broker that leads this partition, as this broker knows it
    /// (-1: none).
    pub fn leader_id(&self) -> i32 {
        match &*self.role() {
            Role::Leader(_) => self.local_id,
            Role::Follower { leader, .. } => *leader,
            Role::Offline { .. } => -1,
        }
    }

    pub fn is_leader(&self) -> bool {
        matches!(&*self.role(), Role::Leader(_))
    }

    /// The leader epoch this broker leads the partition in, if it leads
    /// (read at once, where `is_leader` and `leader_epoch` are two looks).
    pub fn leading_epoch(&self) -> Option<i32> {
        match &*self.role() {
            Role::Leader(l) => Some(l.leader_epoch()),
            _ => None,
        }
    }

    /// The committed ISR's size, as the leader knows it (0 elsewhere).
    pub fn isr_size(&self) -> i32 {
        match &*self.role() {
            Role::Leader(l) => l.isr().len() as i32,
            _ => 0,
        }
    }

    /// Every record below it is on every ISR member (consumers read up to
    /// it); on a follower, as its leader last said.
    pub fn high_watermark(&self) -> i64 {
        self.high_watermark.load(Ordering::Acquire)
    }

    /// Sets the high watermark and wakes whatever waits on it: acks=all
    /// produces, and long-poll fetches (which read up to it).
    fn publish_high_watermark(&self, hw: i64) {
        self.high_watermark.store(hw, Ordering::Release);
        self.committed.notify_waiters();
        self.appended.notify_waiters();
    }

    /// Checks a request's leader epoch (KIP-320) against the epoch this
    /// replica knows, leader or not: Kafka checks it even where any replica
    /// may answer (OffsetsForLeaderEpoch from the "debug" replica id).
    /// Returns that epoch.
    pub fn check_epoch(&self, current_leader_epoch: i32) -> Result<i32, KafkaError> {
        request_epoch_checked(self.leader_epoch(), current_leader_epoch)
    }

    /// A consumer's fetch from a follower (KIP-392, Fetch v11+): allowed
    /// when the request's leader epoch is this replica's (KIP-320 checks as
    /// on the leader). On the leader, the same as `check_leader`.
    pub fn check_readable(&self, current_leader_epoch: i32) -> Result<i32, KafkaError> {
        let role = self.role();
        let epoch = match &*role {
            Role::Leader(l) => l.leader_epoch(),
            Role::Follower { leader_epoch, .. } => *leader_epoch,
            Role::Offline { .. } => return Err(not_leader(self, &role)),
        };
        request_epoch_checked(epoch, current_leader_epoch)
    }

    /// The replica a consumer in `client_rack` should fetch from instead of
    /// this leader (KIP-392, Kafka's RackAwareReplicaSelector), if any:
    /// none when the client names no rack, when no replica is in its rack,
    /// or when the leader is; otherwise the most caught-up in-sync
    /// follower in that rack, among those alive (`rack_of` gives the rack
    /// of an unfenced broker, `None` for others) whose log reaches
    /// `fetch_offset`.
    pub fn preferred_read_replica(
        &self,
        client_rack: &str,
        fetch_offset: i64,
        now_ms: i64,
        rack_of: impl Fn(i32) -> Option<Option<String>>,
    ) -> Option<i32> {
        if client_rack.is_empty() {
            return None;
        }
        let role = self.role();
        let Role::Leader(l) = &*role else {
            return None;
        };
        let in_rack = |id: i32| rack_of(id).flatten().is_some_and(|r| r == client_rack);
        if in_rack(l.local_id()) {
            return None;
        }
        l.isr()
            .iter()
            .copied()
            .filter(|&id| id != l.local_id() && in_rack(id))
            .filter_map(|id| l.follower(id).map(|f| (id, f)))
            .filter(|(_, f)| f.log_end_offset >= fetch_offset)
            // Most caught up: the highest log end, then the most recently
            // caught up.
            .max_by_key(|(_, f)| {
                (
                    f.log_end_offset,
                    f.last_caught_up_ms.map_or(i64::MIN, |t| t - now_ms),
                )
            })
            .map(|(id, _)| id)
    }

    /// Checks a client request's leader epoch (KIP-320) and that this broker
    /// leads; returns the epoch it leads in.
    pub fn check_leader(&self, current_leader_epoch: i32) -> Result<i32, KafkaError> {
        let role = self.role();
        let Role::Leader(l) = &*role else {
            return Err(not_leader(self, &role));
        };
        request_epoch_checked(l.leader_epoch(), current_leader_epoch)
    }

    /// The epoch to stamp on an append, if this broker leads; and whether
    /// min.insync.replicas is met for acks=all.
    pub(super) fn epoch_for_append(&self, acks_all: bool) -> Result<i32, KafkaError> {
        let role = self.role();
        let Role::Leader(l) = &*role else {
            return Err(not_leader(self, &role));
        };
        let min_isr = self.settings().min_insync_replicas;
        if acks_all && !l.has_enough_replicas(min_isr) {
            return Err(KafkaError::new(
                ErrorCode::NOT_ENOUGH_REPLICAS,
                format!(
                    "{} in-sync replicas, min.insync.replicas is {min_isr}",
                    l.isr().len()
                ),
            ));
        }
        Ok(l.leader_epoch())
    }

    /// After a local append in `epoch`: the leader's log end moved, and
    /// with a one-member ISR so does the high watermark.
    pub(super) fn after_local_append(&self, epoch: i32) {
        let mut role = self.role();
        if let Role::Leader(l) = &mut *role {
            if l.leader_epoch() == epoch {
                // Read under the lock: concurrent appends report in
                // some order, and the end they report only grows.
                let end = self.log().log_end_offset().max(l.log_end_offset());
                if let Some(hw) = l.on_local_append(end) {
                    self.publish_high_watermark(hw);
                }
            }
        }
    }

    /// Waits until every record below `required_offset`, appended in
    /// `epoch`, is on every ISR member (acks=all), for at most until
    /// `deadline`. Woken by high watermark moves and leadership changes,
    /// never by a timer loop (Kafka's produce purgatory).
    pub async fn wait_committed(
        &self,
        epoch: i32,
        required_offset: i64,
        deadline: Instant,
    ) -> Result<(), KafkaError> {
        loop {
            let notified = self.committed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let role = self.role();
                match &*role {
                    Role::Leader(l) if l.leader_epoch() == epoch => {
                        let min_isr = self.settings().min_insync_replicas;
                        match l.acks_all_outcome(required_offset, min_isr) {
                            Some(AcksOutcome::Done) => return Ok(()),
                            Some(AcksOutcome::NotEnoughReplicasAfterAppend) => {
                                return Err(KafkaError::new(
                                    ErrorCode::NOT_ENOUGH_REPLICAS_AFTER_APPEND,
                                    format!(
                                        "written, but the ISR has {} members and \
                                         min.insync.replicas is {min_isr}",
                                        l.isr().len()
                                    ),
                                ))
                            }
                            None => {}
                        }
                    }
                    Role::Leader(_) => {
                        return Err(KafkaError::new(
                            ErrorCode::NOT_LEADER_OR_FOLLOWER,
                            "leadership changed before the records were replicated",
                        ))
                    }
                    other => return Err(not_leader(self, other)),
                }
            }
            if tokio::time::timeout_at(deadline.into(), notified)
                .await
                .is_err()
            {
                return Err(KafkaError::new(
                    ErrorCode::REQUEST_TIMED_OUT,
                    "the records were not replicated to the ISR in time",
                ));
            }
        }
    }

    /// The leader's side of a follower's fetch: checks its epochs, finds a
    /// divergence, and otherwise counts the fetch (which may move the high
    /// watermark).
    pub fn on_follower_fetch(
        &self,
        replica_id: i32,
        broker_epoch: i64,
        fetch_offset: i64,
        current_leader_epoch: i32,
        last_fetched_epoch: i32,
        now_ms: i64,
    ) -> Result<FollowerFetch, ErrorCode> {
        let mut role = self.role();
        let Role::Leader(l) = &mut *role else {
            return Err(ErrorCode::NOT_LEADER_OR_FOLLOWER);
        };
        check_leader_epoch(l.leader_epoch(), current_leader_epoch).map_err(epoch_error)?;
        let diverging = diverging_epoch(last_fetched_epoch, fetch_offset, |e| {
            self.log().end_offset_for_epoch(e)
        });
        if diverging.is_some() {
            return Ok(FollowerFetch {
                diverging,
                outside_isr: false,
            });
        }
        let moved = l
            .on_follower_fetch(replica_id, broker_epoch, fetch_offset, now_ms)
            .map_err(|e| match e {
                FollowerFetchError::NotAReplica => ErrorCode::NOT_LEADER_OR_FOLLOWER,
                FollowerFetchError::StaleBrokerEpoch => ErrorCode::STALE_BROKER_EPOCH,
            })?;
        let outside_isr = !l.isr().contains(&replica_id);
        if let Some(hw) = moved {
            self.publish_high_watermark(hw);
        }
        Ok(FollowerFetch {
            diverging: None,
            outside_isr,
        })
    }

    /// An ISR change this leader wants, if any (see
    /// `LeaderState::propose_isr_change`); marked in flight until
    /// `isr_change_done`.
    pub fn propose_isr_change(
        &self,
        now_ms: i64,
        may_join: impl Fn(i32, i64) -> bool,
    ) -> Option<IsrProposal> {
        match &mut *self.role() {
            Role::Leader(l) => l.propose_isr_change(now_ms, may_join),
            _ => None,
        }
    }

    /// The controller's answer to this partition's AlterPartition: the
    /// state it committed (replicas left empty: unchanged), or a refusal.
    pub fn isr_change_done(&self, result: Result<PartitionState, ErrorCode>) {
        let mut role = self.role();
        let Role::Leader(l) = &mut *role else { return };
        match result {
            // An answer from the wire that leaves the leader out of its own
            // ISR is not a state this leader can hold (the bookkeeping
            // asserts it): refused, not applied.
            Ok(state) if !state.isr.contains(&self.local_id) => {
                warn!(topic = %self.topic, partition = self.index, isr = ?state.isr, "an AlterPartition answer without this leader in the ISR: ignored");
                l.on_isr_failed();
            }
            Ok(mut state) => {
                if state.replicas.is_empty() {
                    state.replicas = l.replicas().to_vec();
                }
                info!(topic = %self.topic, partition = self.index, isr = ?state.isr, "ISR changed");
                self.count_isr_change(l.isr().len(), state.isr.len());
                if let Some(hw) = l.on_isr_committed(state) {
                    self.publish_high_watermark(hw);
                }
            }
            Err(ErrorCode::NEW_LEADER_ELECTED) => {
                // Committed, and it completed a reassignment that moved
                // the leadership away: the change stays in flight until
                // the metadata arrives and takes this leadership, as Kafka's
                // leader waits for it.
                info!(topic = %self.topic, partition = self.index, "an ISR change completed a reassignment and moved the leadership");
            }
            Err(code) => {
                warn!(topic = %self.topic, partition = self.index, "the controller refused an ISR change: {code:?}");
                l.on_isr_failed();
            }
        }
    }

    /// Brings the role in line with the image's state of this partition.
    /// Becoming leader starts the follower bookkeeping from this broker's
    /// log end and high watermark; leaving leadership wakes every acks=all
    /// produce waiting here (they fail with NOT_LEADER_OR_FOLLOWER).
    /// Kafka's IsrShrinksPerSec / IsrExpandsPerSec: a committed ISR change
    /// of a partition this broker leads, counted where the leader takes it
    /// in, whether it asked for it (AlterPartition) or the controller made
    /// it (a fenced broker removed). The same change arriving by the other
    /// path too finds the ISR already changed and is not counted twice.
    fn count_isr_change(&self, before: usize, after: usize) {
        match after.cmp(&before) {
            std::cmp::Ordering::Less => crate::stats::add(&self.stats.isr_shrinks, 1),
            std::cmp::Ordering::Greater => crate::stats::add(&self.stats.isr_expands, 1),
            std::cmp::Ordering::Equal => {}
        }
    }

    pub(super) fn apply_partition_state(
        &self,
        leader: i32,
        state: PartitionState,
        now_ms: i64,
        replica_lag_time_max_ms: i64,
        strict_min_isr: Option<usize>,
    ) {
        let mut state = state;
        if leader == self.local_id && !state.isr.contains(&self.local_id) {
            // A leader is in sync with itself; metadata that says otherwise
            // (a log this controller did not write) must not take the
            // broker down.
            warn!(topic = %self.topic, partition = self.index, isr = ?state.isr, "the metadata names this broker leader outside its ISR; counting it in");
            state.isr.push(self.local_id);
        }
        let mut role = self.role();
        let epoch = state.leader_epoch;
        match &mut *role {
            Role::Leader(l) if leader == self.local_id && l.leader_epoch() == epoch => {
                self.count_isr_change(l.isr().len(), state.isr.len());
                // The rule first: the ISR this state brings may already be
                // below min.insync.replicas (the controller moved the others
                // to the ELR in the same batch that turned the feature on).
                let moved = l.set_strict_min_isr(strict_min_isr);
                if let Some(hw) = l.on_isr_committed(state).or(moved) {
                    self.publish_high_watermark(hw);
                }
                return;
            }
            Role::Follower {
                leader: current,
                leader_epoch,
            } if *current == leader && *leader_epoch == epoch => return,
            Role::Offline { leader_epoch } if leader < 0 && *leader_epoch == epoch => return,
            _ => {}
        }
        if leader == self.local_id {
            let end = self.log().log_end_offset();
            let leader_state = LeaderState::with_strict_min_isr(
                self.local_id,
                state,
                end,
                self.high_watermark(),
                now_ms,
                replica_lag_time_max_ms,
                strict_min_isr,
            );
            let hw = leader_state.high_watermark();
            debug!(topic = %self.topic, partition = self.index, epoch, log_end = end, high_watermark = hw, "leading");
            *role = Role::Leader(Box::new(leader_state));
            self.publish_high_watermark(hw);
        } else {
            if matches!(&*role, Role::Leader(_)) || leader >= 0 {
                debug!(topic = %self.topic, partition = self.index, epoch, leader, "following");
            }
            *role = if leader >= 0 {
                Role::Follower {
                    leader,
                    leader_epoch: epoch,
                }
            } else {
                Role::Offline {
                    leader_epoch: epoch,
                }
            };
            drop(role);
            self.committed.notify_waiters();
        }
    }

    /// This broker is no longer a replica (a reassignment moved the
    /// partition away): the partition stops leading or following before its
    /// log is deleted, and every acks=all produce waiting here fails with
    /// NOT_LEADER_OR_FOLLOWER.
    pub(super) fn stop(&self, leader_epoch: i32) {
        let mut role = self.role();
        let epoch = leader_epoch.max(role.leader_epoch());
        *role = Role::Offline {
            leader_epoch: epoch,
        };
        drop(role);
        debug!(topic = %self.topic, partition = self.index, epoch, "no longer a replica");
        self.committed.notify_waiters();
        self.appended.notify_waiters();
    }

    /// The leader and epoch a follower fetches from, if it follows.
    pub fn following(&self) -> Option<(i32, i32)> {
        match &*self.role() {
            Role::Follower {
                leader,
                leader_epoch,
            } => Some((*leader, *leader_epoch)),
            _ => None,
        }
    }

    /// A follower's append of what its leader sent, then the leader's high
    /// watermark as far as this log reaches. Producer state is kept up to
    /// date batch by batch, so a follower that becomes leader answers
    /// retries without duplicates; abort markers get their
    /// aborted-transaction entries here as on the leader. A roll takes a
    /// producer snapshot, as on the leader.
    pub fn append_as_follower(
        &self,
        records: Bytes,
        leader_high_watermark: i64,
        now_ms: i64,
    ) -> Result<(), vltava_storage::Error> {
        if !records.is_empty() {
            let bytes = records.len() as u64;
            self.append_and_replay_as_follower(records, now_ms)?;
            crate::stats::add(&self.stats.replication_bytes_in, bytes);
            self.snapshot_if_rolled(now_ms);
        }
        let hw = leader_high_watermark.min(self.log().log_end_offset());
        if hw != self.high_watermark() {
            self.publish_high_watermark(hw);
        }
        Ok(())
    }

    /// Cuts a follower's log at `offset` (a divergence), and its producer
    /// state with it (rebuilt on next use from the newest snapshot left and
    /// the log after it). The log deletes the producer snapshots above the
    /// cut before cutting, and refuses a snapshot whose state was copied
    /// before it (`Log::truncate_to`, `SnapshotPoint`).
    pub fn truncate_as_follower(&self, offset: i64) -> Result<(), vltava_storage::Error> {
        let mut producers = self.producers.lock().unwrap_or_else(|e| e.into_inner());
        self.snapshot_offset.store(-1, Ordering::Release);
        self.on_log(|log| log.truncate_to(offset))?;
        *producers = None;
        self.producers_loaded.store(false, Ordering::Release);
        self.first_unstable
            .store(super::NO_OPEN_TXN, Ordering::SeqCst);
        drop(producers);
        if self.high_watermark() > offset {
            self.high_watermark.store(offset, Ordering::Release);
        }
        Ok(())
    }

    /// A follower behind its leader's log start starts over there, with
    /// no producer state and no producer snapshot (the log deletes them
    /// all).
    pub fn restart_as_follower_at(
        &self,
        offset: i64,
        now_ms: i64,
    ) -> Result<(), vltava_storage::Error> {
        let mut producers = self.producers.lock().unwrap_or_else(|e| e.into_inner());
        self.snapshot_offset.store(-1, Ordering::Release);
        self.on_log(|log| log.truncate_fully_and_start_at(offset, now_ms))?;
        *producers = None;
        self.producers_loaded.store(false, Ordering::Release);
        self.first_unstable
            .store(super::NO_OPEN_TXN, Ordering::SeqCst);
        drop(producers);
        self.high_watermark.store(offset, Ordering::Release);
        Ok(())
    }
}
