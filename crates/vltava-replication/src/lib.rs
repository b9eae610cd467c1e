//! What a partition's leader replica knows and decides under Kafka's
//! replication protocol, with no I/O and no clock: the caller feeds it the
//! leader's own appends, followers' fetches (with the time they arrived) and
//! the controller's answers, and asks it for the high watermark, for an ISR
//! change to propose (AlterPartition, KIP-497) and whether an acks=all
//! produce is complete. The broker's partition wraps one `LeaderState` per
//! partition it leads; the tests below drive it with made-up times.
//!
//! The rules, as Kafka's leader applies them:
//! - the high watermark is the lowest log end offset over the *maximal* ISR
//!   (the committed ISR plus any member an in-flight expansion adds; an
//!   in-flight shrink still counts the member it removes), so nothing is
//!   reported committed on an ISR the controller has not accepted;
//! - a follower is caught up at a fetch from at least the leader's log end,
//!   or from at least the log end the leader had at the follower's previous
//!   fetch (it then caught up as of that previous fetch);
//! - an ISR member not caught up for `replica.lag.time.max.ms` is proposed
//!   for removal; a replica outside the ISR whose log end reached the high
//!   watermark and the start of the leader's epoch is proposed for
//!   addition, if the controller's view says it may join (registered,
//!   unfenced, not shutting down);
//! - one ISR change is in flight at a time;
//! - an acks=all produce whose last offset is below the high watermark is
//!   done; it fails with NOT_ENOUGH_REPLICAS_AFTER_APPEND if the ISR is
//!   then smaller than `min.insync.replicas`.
//!
//! Divergence (KIP-101/KIP-279, and Fetch v12's DivergingEpoch) is decided
//! by the two free functions at the end: the leader's check of a follower's
//! last fetched epoch, and the follower's truncation point.

use std::collections::BTreeMap;

/// Kafka's "no epoch" / "no offset" answers.
pub const UNDEFINED_EPOCH: i32 = -1;
pub const UNDEFINED_OFFSET: i64 = -1;

/// A partition's replica assignment and ISR as the controller committed
/// them (the metadata image's partition state).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionState {
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    pub leader_epoch: i32,
    pub partition_epoch: i32,
}

/// What the leader knows of one follower.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FollowerProgress {
    /// The offset of its last fetch: every record below it is on its log.
    /// `UNDEFINED_OFFSET` until it fetches from this leader.
    pub log_end_offset: i64,
    /// The broker epoch its fetches carry (KIP-903), -1 if none yet.
    pub broker_epoch: i64,
    /// When it last fetched, if it has since this replica became leader.
    pub last_fetch_ms: Option<i64>,
    /// When it was last known to be caught up with the leader's log end;
    /// `None` if never (since this replica became leader).
    pub last_caught_up_ms: Option<i64>,
    /// The leader's log end at that last fetch.
    last_fetch_leader_end: i64,
}

/// An ISR change the leader wants the controller to make.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IsrProposal {
    /// The whole new ISR with each member's broker epoch (-1 if unknown),
    /// as AlterPartition v3 carries it.
    pub new_isr: Vec<(i32, i64)>,
    pub leader_epoch: i32,
    pub partition_epoch: i32,
}

/// How an acks=all produce ends, once it ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AcksOutcome {
    /// Every member of the ISR has the records.
    Done,
    /// The records are committed, but the ISR is below min.insync.replicas.
    NotEnoughReplicasAfterAppend,
}

/// Why a follower's fetch was not counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FollowerFetchError {
    /// The fetching broker is not one of the partition's replicas.
    NotAReplica,
    /// Its broker epoch is older than one seen before: a fetch from an
    /// earlier incarnation of that broker (KIP-903).
    StaleBrokerEpoch,
}

/// The leader replica's state for one partition.
#[derive(Clone, Debug)]
pub struct LeaderState {
    local_id: i32,
    committed: PartitionState,
    /// The ISR of an AlterPartition in flight.
    pending_isr: Option<Vec<i32>>,
    followers: BTreeMap<i32, FollowerProgress>,
    local_end: i64,
    high_watermark: i64,
    /// The leader's log end when it became leader of this epoch: a replica
    /// joins the ISR only once it has everything written before this
    /// epoch began.
    epoch_start_offset: i64,
    replica_lag_time_max_ms: i64,
    /// KIP-966's strict min ISR rule, on while eligible leader replicas
    /// are: the high watermark moves only while the committed ISR has at
    /// least this many members, so a replica that leaves a too-small ISR
    /// still holds everything below it and may lead cleanly.
    strict_min_isr: Option<usize>,
}

impl LeaderState {
    /// This replica becomes leader of `state` (which names it leader) with
    /// its log ending at `local_end` and its high watermark as it was
    /// (checkpointed, or learned as a follower). ISR members count as
    /// caught up now, as Kafka resets them, so none is dropped before it
    /// had `replica.lag.time.max.ms` to fetch from the new leader.
    pub fn new(
        local_id: i32,
        state: PartitionState,
        local_end: i64,
        high_watermark: i64,
        now_ms: i64,
        replica_lag_time_max_ms: i64,
    ) -> LeaderState {
        LeaderState::with_strict_min_isr(
            local_id,
            state,
            local_end,
            high_watermark,
            now_ms,
            replica_lag_time_max_ms,
            None,
        )
    }

    /// As [`LeaderState::new`], with KIP-966's strict min ISR rule in force
    /// from the start (see [`LeaderState::set_strict_min_isr`]): a leader
    /// elected from the eligible replicas, alone in its ISR, must not
    /// commit its log's tail on taking over.
    pub fn with_strict_min_isr(
        local_id: i32,
        state: PartitionState,
        local_end: i64,
        high_watermark: i64,
        now_ms: i64,
        replica_lag_time_max_ms: i64,
        strict_min_isr: Option<usize>,
    ) -> LeaderState {
        assert!(
            state.isr.contains(&local_id),
            "a leader is always a member of its ISR: {state:?}"
        );
        let followers = state
            .replicas
            .iter()
            .filter(|r| **r != local_id)
            .map(|r| {
                (
                    *r,
                    FollowerProgress {
                        log_end_offset: UNDEFINED_OFFSET,
                        broker_epoch: -1,
                        last_fetch_ms: None,
                        last_caught_up_ms: state.isr.contains(r).then_some(now_ms),
                        last_fetch_leader_end: UNDEFINED_OFFSET,
                    },
                )
            })
            .collect();
        let mut leader = LeaderState {
            local_id,
            committed: state,
            pending_isr: None,
            followers,
            local_end,
            high_watermark: high_watermark.clamp(0, local_end.max(0)),
            epoch_start_offset: local_end,
            replica_lag_time_max_ms,
            strict_min_isr,
        };
        leader.advance_high_watermark();
        leader
    }

    /// Turns KIP-966's strict min ISR rule on (`Some(min.insync.replicas)`)
    /// or off. Returns the high watermark if that let it move.
    pub fn set_strict_min_isr(&mut self, min_isr: Option<usize>) -> Option<i64> {
        self.strict_min_isr = min_isr;
        self.advance_high_watermark()
    }

    pub fn local_id(&self) -> i32 {
        self.local_id
    }

    pub fn leader_epoch(&self) -> i32 {
        self.committed.leader_epoch
    }

    pub fn partition_epoch(&self) -> i32 {
        self.committed.partition_epoch
    }

    pub fn high_watermark(&self) -> i64 {
        self.high_watermark
    }

    pub fn log_end_offset(&self) -> i64 {
        self.local_end
    }

    /// The ISR the controller committed.
    pub fn isr(&self) -> &[i32] {
        &self.committed.isr
    }

    pub fn replicas(&self) -> &[i32] {
        &self.committed.replicas
    }

    /// Whether an AlterPartition is in flight.
    pub fn isr_change_pending(&self) -> bool {
        self.pending_isr.is_some()
    }

    /// The ISR the high watermark waits for: the committed one, widened by
    /// an expansion in flight (a shrink in flight removes nobody yet).
    pub fn maximal_isr(&self) -> Vec<i32> {
        let mut isr = self.committed.isr.clone();
        if let Some(pending) = &self.pending_isr {
            for r in pending {
                if !isr.contains(r) {
                    isr.push(*r);
                }
            }
        }
        isr
    }

    pub fn follower(&self, id: i32) -> Option<&FollowerProgress> {
        self.followers.get(&id)
    }

    /// min.insync.replicas is met before an append (else
    /// NOT_ENOUGH_REPLICAS): counts the committed ISR, as Kafka does.
    pub fn has_enough_replicas(&self, min_insync_replicas: i32) -> bool {
        self.committed.isr.len() as i64 >= i64::from(min_insync_replicas)
    }

    /// The leader appended; its log now ends at `new_end`. Returns the new
    /// high watermark if it moved (a one-member ISR commits at once).
    pub fn on_local_append(&mut self, new_end: i64) -> Option<i64> {
        assert!(
            new_end >= self.local_end,
            "the leader's log only grows while it leads ({} -> {new_end})",
            self.local_end
        );
        self.local_end = new_end;
        self.advance_high_watermark()
    }

    /// Follower `id`, of broker epoch `broker_epoch` (-1 when its request
    /// carries none), fetched from `fetch_offset` at `now_ms`: everything
    /// below that offset is on its log. Returns the new high watermark if
    /// it moved.
    pub fn on_follower_fetch(
        &mut self,
        id: i32,
        broker_epoch: i64,
        fetch_offset: i64,
        now_ms: i64,
    ) -> Result<Option<i64>, FollowerFetchError> {
        let local_end = self.local_end;
        let follower = self
            .followers
            .get_mut(&id)
            .ok_or(FollowerFetchError::NotAReplica)?;
        if broker_epoch >= 0 && broker_epoch < follower.broker_epoch {
            return Err(FollowerFetchError::StaleBrokerEpoch);
        }
        if fetch_offset >= local_end {
            follower.last_caught_up_ms = Some(now_ms);
        } else if fetch_offset >= follower.last_fetch_leader_end {
            // It has what the leader had at its previous fetch: it was
            // caught up as of then.
            if let Some(previous) = follower.last_fetch_ms {
                follower.last_caught_up_ms = Some(
                    follower
                        .last_caught_up_ms
                        .map_or(previous, |t| t.max(previous)),
                );
            }
        }
        // A follower that fetches beyond the leader's end has a log the
        // leader does not know; it is answered with divergence or
        // OFFSET_OUT_OF_RANGE, and counted as having the leader's end.
        follower.log_end_offset = fetch_offset.min(local_end);
        follower.last_fetch_leader_end = local_end;
        follower.last_fetch_ms = Some(now_ms);
        if broker_epoch >= 0 {
            follower.broker_epoch = broker_epoch;
        }
        Ok(self.advance_high_watermark())
    }

    /// The ISR change to send to the controller now, if any: lagging
    /// members out first (they hold the high watermark back), else caught
    /// up replicas in. `may_join(id, broker_epoch)` says whether the
    /// controller would accept that broker (registered at that epoch,
    /// unfenced, not shutting down). Marks the change in flight; the
    /// caller reports the controller's answer with `on_isr_committed` or
    /// `on_isr_failed`.
    pub fn propose_isr_change(
        &mut self,
        now_ms: i64,
        may_join: impl Fn(i32, i64) -> bool,
    ) -> Option<IsrProposal> {
        if self.pending_isr.is_some() {
            return None;
        }
        let lag = self.replica_lag_time_max_ms;
        let out_of_sync: Vec<i32> = self
            .committed
            .isr
            .iter()
            .copied()
            .filter(|r| *r != self.local_id)
            .filter(|r| match self.followers.get(r) {
                Some(f) => f.last_caught_up_ms.is_none_or(|t| now_ms - t > lag),
                // An ISR member that is not a replica: the controller's
                // state says otherwise; never propose from it.
                None => false,
            })
            .collect();
        let new_isr: Vec<i32> = if !out_of_sync.is_empty() {
            self.committed
                .isr
                .iter()
                .copied()
                .filter(|r| !out_of_sync.contains(r))
                .collect()
        } else {
            let joining: Vec<i32> = self
                .committed
                .replicas
                .iter()
                .copied()
                .filter(|r| !self.committed.isr.contains(r))
                .filter(|r| {
                    self.followers.get(r).is_some_and(|f| {
                        f.log_end_offset >= self.high_watermark
                            && f.log_end_offset >= self.epoch_start_offset
                            && may_join(*r, f.broker_epoch)
                    })
                })
                .collect();
            if joining.is_empty() {
                return None;
            }
            let mut isr = self.committed.isr.clone();
            isr.extend(joining);
            isr
        };
        let with_epochs = new_isr
            .iter()
            .map(|r| {
                let epoch = self.followers.get(r).map_or(-1, |f| f.broker_epoch);
                (*r, epoch)
            })
            .collect();
        self.pending_isr = Some(new_isr);
        Some(IsrProposal {
            new_isr: with_epochs,
            leader_epoch: self.committed.leader_epoch,
            partition_epoch: self.committed.partition_epoch,
        })
    }

    /// The controller accepted an ISR change, or the metadata log shows a
    /// newer state of this partition under the same leader epoch (the
    /// controller changed it, e.g. it removed a fenced broker). A state
    /// older than the one held is ignored. Returns the new high watermark
    /// if it moved.
    pub fn on_isr_committed(&mut self, state: PartitionState) -> Option<i64> {
        if state.leader_epoch != self.committed.leader_epoch
            || state.partition_epoch < self.committed.partition_epoch
        {
            return None;
        }
        if state.partition_epoch == self.committed.partition_epoch
            && state.isr == self.committed.isr
            && state.replicas == self.committed.replicas
        {
            return None;
        }
        assert!(
            state.isr.contains(&self.local_id),
            "the controller keeps the leader in its ISR: {state:?}"
        );
        for r in &state.replicas {
            if *r != self.local_id && !self.followers.contains_key(r) {
                self.followers.insert(
                    *r,
                    FollowerProgress {
                        log_end_offset: UNDEFINED_OFFSET,
                        broker_epoch: -1,
                        last_fetch_ms: None,
                        last_caught_up_ms: None,
                        last_fetch_leader_end: UNDEFINED_OFFSET,
                    },
                );
            }
        }
        self.followers.retain(|id, _| state.replicas.contains(id));
        self.committed = state;
        self.pending_isr = None;
        self.advance_high_watermark()
    }

    /// The controller refused the change or could not be reached: the
    /// committed ISR stands, and a later call may propose again.
    pub fn on_isr_failed(&mut self) {
        self.pending_isr = None;
    }

    /// Whether an acks=all produce that needs every record below
    /// `required_offset` committed has ended, and how.
    pub fn acks_all_outcome(
        &self,
        required_offset: i64,
        min_insync_replicas: i32,
    ) -> Option<AcksOutcome> {
        if self.high_watermark < required_offset {
            return None;
        }
        Some(if self.has_enough_replicas(min_insync_replicas) {
            AcksOutcome::Done
        } else {
            AcksOutcome::NotEnoughReplicasAfterAppend
        })
    }

    /// Raises the high watermark to the lowest log end over the maximal
    /// ISR, never lowers it, and not at all while the strict min ISR rule
    /// holds it (see `strict_min_isr`). Returns it if it moved.
    fn advance_high_watermark(&mut self) -> Option<i64> {
        if self
            .strict_min_isr
            .is_some_and(|min| self.committed.isr.len() < min)
        {
            return None;
        }
        let mut candidate = self.local_end;
        for r in self.maximal_isr() {
            if r == self.local_id {
                continue;
            }
            let end = self
                .followers
                .get(&r)
                .map_or(UNDEFINED_OFFSET, |f| f.log_end_offset);
            candidate = candidate.min(end);
        }
        assert!(self.high_watermark <= self.local_end, "{self:?}");
        if candidate > self.high_watermark {
            self.high_watermark = candidate;
            Some(candidate)
        } else {
            None
        }
    }
}

/// The leader's check of a follower's (or KRaft-style consumer's) fetch
/// position (Fetch v12+): the follower's log has `last_fetched_epoch` up to
/// `fetch_offset`. `end_offset_for(epoch)` is the leader's leader-epoch
/// cache answer: the largest epoch at or below `epoch` it has, and the
/// offset where that epoch ends on its log. Returns the DivergingEpoch to
/// send (epoch, end offset) when the follower's log has records the leader
/// does not, `None` when its log is a prefix of the leader's.
pub fn diverging_epoch(
    last_fetched_epoch: i32,
    fetch_offset: i64,
    end_offset_for: impl FnOnce(i32) -> (i32, i64),
) -> Option<(i32, i64)> {
    if last_fetched_epoch < 0 {
        return None;
    }
    let (epoch, end) = end_offset_for(last_fetched_epoch);
    if epoch != last_fetched_epoch || end < fetch_offset {
        Some((epoch, end))
    } else {
        None
    }
}

/// Where a follower truncates its log on the leader's DivergingEpoch
/// `(epoch, end_offset)` (Kafka's follower does the same with an
/// OffsetsForLeaderEpoch answer): to the end offset, or lower where its own
/// records of that epoch end sooner. When the follower has no such epoch,
/// it cuts at the end of its own largest earlier epoch and the next fetch
/// goes on from there. Where neither side can say (no epochs known), it
/// falls back to its high watermark, below which every record was
/// committed and so is on the leader too. `local_end_offset_for` is the
/// follower's leader-epoch cache answer.
pub fn follower_truncation_offset(
    diverging: (i32, i64),
    local_end_offset_for: impl FnOnce(i32) -> (i32, i64),
    local_end: i64,
    local_high_watermark: i64,
) -> i64 {
    let (epoch, leader_end) = diverging;
    let cut = if leader_end == UNDEFINED_OFFSET {
        local_high_watermark
    } else if epoch == UNDEFINED_EPOCH {
        leader_end.min(local_end)
    } else {
        let (local_epoch, local_epoch_end) = local_end_offset_for(epoch);
        if local_epoch == UNDEFINED_EPOCH || local_epoch_end == UNDEFINED_OFFSET {
            local_high_watermark
        } else {
            // Same epoch: both logs agree up to the shorter one's end of
            // it. An earlier local epoch: they agree at most up to where
            // that epoch ends locally.
            leader_end.min(local_epoch_end)
        }
    };
    cut.clamp(0, local_end.max(0))
}

/// Why a request's leader epoch does not match the partition's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EpochMismatch {
    /// The request's epoch is older: FENCED_LEADER_EPOCH.
    Fenced,
    /// The request's epoch is newer than this replica knows:
    /// UNKNOWN_LEADER_EPOCH.
    Unknown,
}

/// KIP-320's check of a request's current leader epoch against this
/// replica's; -1 in the request means "no check".
pub fn check_leader_epoch(local: i32, requested: i32) -> Result<(), EpochMismatch> {
    if requested < 0 || requested == local {
        Ok(())
    } else if requested < local {
        Err(EpochMismatch::Fenced)
    } else {
        Err(EpochMismatch::Unknown)
    }
}

#[cfg(test)]
mod tests;
