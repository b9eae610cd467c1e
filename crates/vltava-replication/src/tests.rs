use super::*;

const LAG: i64 = 10_000;

fn state(replicas: &[i32], isr: &[i32], leader_epoch: i32, partition_epoch: i32) -> PartitionState {
    PartitionState {
        replicas: replicas.to_vec(),
        isr: isr.to_vec(),
        leader_epoch,
        partition_epoch,
    }
}

fn leader_of_three() -> LeaderState {
    LeaderState::new(1, state(&[1, 2, 3], &[1, 2, 3], 5, 7), 100, 90, 0, LAG)
}

#[test]
fn a_single_replica_commits_at_once() {
    let mut l = LeaderState::new(1, state(&[1], &[1], 0, 0), 0, 0, 0, LAG);
    assert_eq!(l.high_watermark(), 0);
    assert_eq!(l.on_local_append(3), Some(3));
    assert_eq!(l.high_watermark(), 3);
    assert_eq!(l.acks_all_outcome(3, 1), Some(AcksOutcome::Done));
    assert_eq!(
        l.acks_all_outcome(3, 2),
        Some(AcksOutcome::NotEnoughReplicasAfterAppend)
    );
    assert!(!l.has_enough_replicas(2));
}

#[test]
fn the_high_watermark_waits_for_every_isr_member() {
    let mut l = leader_of_three();
    // Followers have not fetched from the new leader: their ends are
    // unknown and the high watermark stays where it was.
    assert_eq!(l.high_watermark(), 90);
    assert_eq!(l.on_local_append(110), None);
    assert_eq!(l.on_follower_fetch(2, 1, 110, 1), Ok(None));
    assert_eq!(l.high_watermark(), 90);
    assert_eq!(l.on_follower_fetch(3, 1, 95, 2), Ok(Some(95)));
    assert_eq!(l.acks_all_outcome(96, 2), None);
    assert_eq!(l.on_follower_fetch(3, 1, 110, 3), Ok(Some(110)));
    assert_eq!(l.acks_all_outcome(110, 2), Some(AcksOutcome::Done));
    // A follower that claims more than the leader has counts as having
    // the leader's end, no more.
    assert_eq!(l.on_follower_fetch(2, 1, 500, 4), Ok(None));
    assert_eq!(l.follower(2).unwrap().log_end_offset, 110);
}

#[test]
fn the_high_watermark_never_goes_back() {
    let mut l = LeaderState::new(1, state(&[1, 2], &[1, 2], 1, 1), 50, 50, 0, LAG);
    assert_eq!(l.high_watermark(), 50);
    // A follower that fetches from an older offset (it truncated) does
    // not move the high watermark back.
    assert_eq!(l.on_follower_fetch(2, 1, 20, 1), Ok(None));
    assert_eq!(l.high_watermark(), 50);
    // A checkpointed high watermark beyond the log is cut to the log end.
    let l = LeaderState::new(1, state(&[1, 2], &[1], 1, 1), 10, 40, 0, LAG);
    assert_eq!(l.high_watermark(), 10);
}

#[test]
fn fetches_from_strangers_and_old_incarnations_are_refused() {
    let mut l = leader_of_three();
    assert_eq!(
        l.on_follower_fetch(9, 1, 100, 1),
        Err(FollowerFetchError::NotAReplica)
    );
    assert_eq!(
        l.on_follower_fetch(1, 1, 100, 1),
        Err(FollowerFetchError::NotAReplica)
    );
    assert_eq!(l.on_follower_fetch(2, 8, 100, 1), Ok(None));
    assert_eq!(
        l.on_follower_fetch(2, 7, 100, 2),
        Err(FollowerFetchError::StaleBrokerEpoch)
    );
    assert_eq!(l.follower(2).unwrap().broker_epoch, 8);
}

#[test]
fn a_follower_behind_but_at_the_previous_leader_end_was_caught_up_then() {
    let mut l = leader_of_three();
    l.on_follower_fetch(2, 1, 100, 1_000).unwrap();
    assert_eq!(l.follower(2).unwrap().last_caught_up_ms, Some(1_000));
    l.on_local_append(120);
    // It fetches from 100 again at 2000: not at the end (120), but it had
    // everything the leader had at its previous fetch, at 1000.
    l.on_follower_fetch(2, 1, 100, 2_000).unwrap();
    assert_eq!(l.follower(2).unwrap().last_caught_up_ms, Some(1_000));
    // From 120 at 3000 (leader end at its previous fetch): caught up as of
    // 2000.
    l.on_local_append(130);
    l.on_follower_fetch(2, 1, 120, 3_000).unwrap();
    assert_eq!(l.follower(2).unwrap().last_caught_up_ms, Some(2_000));
    // Behind what the leader had at the previous fetch: no change.
    l.on_local_append(200);
    l.on_follower_fetch(2, 1, 125, 4_000).unwrap();
    assert_eq!(l.follower(2).unwrap().last_caught_up_ms, Some(2_000));
}

#[test]
fn a_lagging_member_is_proposed_out_and_the_high_watermark_waits_for_the_commit() {
    let mut l = leader_of_three();
    l.on_follower_fetch(2, 11, 100, 1).unwrap();
    l.on_follower_fetch(3, 12, 100, 1).unwrap();
    assert_eq!(l.high_watermark(), 100);
    l.on_local_append(150);
    // Follower 2 keeps fetching; 3 has stopped.
    for t in (1_000..=LAG + 1_000).step_by(500) {
        l.on_follower_fetch(2, 11, 150, t).unwrap();
    }
    assert_eq!(
        l.propose_isr_change(LAG, |_, _| true),
        None,
        "3 is not late yet"
    );
    let p = l
        .propose_isr_change(LAG + 2, |_, _| true)
        .expect("a shrink");
    assert_eq!(p.new_isr, vec![(1, -1), (2, 11)]);
    assert_eq!((p.leader_epoch, p.partition_epoch), (5, 7));
    assert!(l.isr_change_pending());
    assert_eq!(
        l.propose_isr_change(LAG + 3, |_, _| true),
        None,
        "one change at a time"
    );
    // Until the controller commits it, 3 still holds the high watermark.
    assert_eq!(l.high_watermark(), 100);
    assert_eq!(l.acks_all_outcome(150, 2), None);
    assert_eq!(
        l.on_isr_committed(state(&[1, 2, 3], &[1, 2], 5, 8)),
        Some(150)
    );
    assert_eq!(l.isr(), &[1, 2]);
    assert_eq!(l.acks_all_outcome(150, 2), Some(AcksOutcome::Done));
    assert_eq!(
        l.acks_all_outcome(150, 3),
        Some(AcksOutcome::NotEnoughReplicasAfterAppend)
    );
}

#[test]
fn a_caught_up_replica_is_proposed_in_once_it_may_join() {
    let mut l = LeaderState::new(1, state(&[1, 2, 3], &[1, 2], 2, 4), 100, 100, 0, LAG);
    l.on_follower_fetch(2, 1, 100, 1).unwrap();
    // 3 is behind the high watermark: not yet.
    l.on_follower_fetch(3, 9, 60, 1).unwrap();
    assert_eq!(l.propose_isr_change(2, |_, _| true), None);
    l.on_follower_fetch(3, 9, 100, 3).unwrap();
    // The controller's view says it is fenced: not proposed.
    assert_eq!(l.propose_isr_change(4, |_, _| false), None);
    let p = l
        .propose_isr_change(5, |id, epoch| id == 3 && epoch == 9)
        .expect("an expansion");
    assert_eq!(p.new_isr, vec![(1, -1), (2, 1), (3, 9)]);
    // While it is in flight the high watermark already waits for 3.
    assert_eq!(l.maximal_isr(), vec![1, 2, 3]);
    l.on_local_append(120);
    l.on_follower_fetch(2, 1, 120, 6).unwrap();
    assert_eq!(l.high_watermark(), 100);
    // The controller refuses: the committed ISR stands, 3 no longer counts.
    l.on_isr_failed();
    assert!(!l.isr_change_pending());
    assert_eq!(l.on_follower_fetch(2, 1, 120, 7), Ok(Some(120)));
}

#[test]
fn a_replica_must_reach_the_start_of_the_leaders_epoch_to_join() {
    // The high watermark (40) trails the epoch's start (100): a replica at
    // 50 has every committed record but not everything the old leader
    // wrote before this epoch, which this leader may still commit.
    let mut l = LeaderState::new(1, state(&[1, 2], &[1], 3, 3), 100, 40, 0, LAG);
    assert_eq!(l.high_watermark(), 100, "a lone leader commits its log");
    let mut l2 = LeaderState::new(1, state(&[1, 2, 3], &[1, 3], 3, 3), 100, 40, 0, LAG);
    l2.on_follower_fetch(3, 1, 40, 1).unwrap();
    l2.on_follower_fetch(2, 1, 50, 1).unwrap();
    assert_eq!(l2.high_watermark(), 40);
    assert_eq!(l2.propose_isr_change(2, |_, _| true), None);
    l2.on_follower_fetch(2, 1, 100, 3).unwrap();
    assert!(l2.propose_isr_change(4, |_, _| true).is_some());
    l.on_follower_fetch(2, 1, 100, 5).unwrap();
    assert!(l.propose_isr_change(6, |_, _| true).is_some());
}

#[test]
fn metadata_older_than_held_or_of_another_epoch_is_ignored() {
    let mut l = leader_of_three();
    assert_eq!(l.on_isr_committed(state(&[1, 2, 3], &[1, 2], 5, 6)), None);
    assert_eq!(l.isr(), &[1, 2, 3]);
    assert_eq!(l.on_isr_committed(state(&[1, 2, 3], &[1, 2], 6, 9)), None);
    assert_eq!(l.isr(), &[1, 2, 3]);
    // The controller removed 3 (fenced) under the same leader epoch.
    l.on_follower_fetch(2, 1, 100, 1).unwrap();
    assert_eq!(
        l.on_isr_committed(state(&[1, 2, 3], &[1, 2], 5, 8)),
        Some(100)
    );
    // A reassignment adds replica 4: it is tracked from then on.
    l.on_isr_committed(state(&[1, 2, 3, 4], &[1, 2], 5, 9));
    assert!(l.follower(4).is_some());
    l.on_isr_committed(state(&[1, 2, 4], &[1, 2], 5, 10));
    assert!(l.follower(3).is_none());
}

#[test]
fn divergence_is_found_and_cut_where_the_logs_agree() {
    // Leader cache: epoch 1 from 0, epoch 3 from 50, epoch 5 from 80; end 100.
    let leader = |e: i32| match e {
        e if e >= 5 => (5, 100),
        3 | 4 => (3, 80),
        1 | 2 => (1, 50),
        _ => (UNDEFINED_EPOCH, UNDEFINED_OFFSET),
    };
    // A prefix of the leader's log: no divergence.
    assert_eq!(diverging_epoch(3, 70, leader), None);
    assert_eq!(diverging_epoch(5, 100, leader), None);
    assert_eq!(diverging_epoch(-1, 30, leader), None);
    // Epoch 3 records up to 90 on the follower, but the leader's epoch 3
    // ended at 80.
    assert_eq!(diverging_epoch(3, 90, leader), Some((3, 80)));
    // An epoch the leader never had (a zombie leader's epoch 4).
    assert_eq!(diverging_epoch(4, 85, leader), Some((3, 80)));
    // Older than anything the leader has.
    assert_eq!(
        diverging_epoch(0, 10, leader),
        Some((UNDEFINED_EPOCH, UNDEFINED_OFFSET))
    );

    // Follower cache: epoch 1 from 0, epoch 3 from 50, epoch 4 from 85; end 95.
    let follower = |e: i32| match e {
        e if e >= 4 => (4, 95),
        3 => (3, 85),
        1 | 2 => (1, 50),
        _ => (UNDEFINED_EPOCH, UNDEFINED_OFFSET),
    };
    assert_eq!(follower_truncation_offset((3, 80), follower, 95, 60), 80);
    // The follower's own epoch 3 ends sooner than the leader's answer.
    assert_eq!(follower_truncation_offset((3, 90), follower, 95, 60), 85);
    // The leader's epoch 2 is not in the follower's cache: cut at the end
    // of its epoch 1 and go on from there.
    let sparse = |e: i32| {
        if e >= 1 {
            (1, 50)
        } else {
            (UNDEFINED_EPOCH, UNDEFINED_OFFSET)
        }
    };
    assert_eq!(follower_truncation_offset((2, 70), sparse, 95, 30), 50);
    // Nothing to go on: the high watermark.
    let empty = |_| (UNDEFINED_EPOCH, UNDEFINED_OFFSET);
    assert_eq!(follower_truncation_offset((3, 80), empty, 95, 60), 60);
    assert_eq!(
        follower_truncation_offset((UNDEFINED_EPOCH, UNDEFINED_OFFSET), follower, 95, 60),
        60
    );
    // Never beyond the follower's own end.
    assert_eq!(follower_truncation_offset((4, 500), follower, 95, 60), 95);
}

#[test]
fn leader_epochs_in_requests_are_checked() {
    assert_eq!(check_leader_epoch(5, -1), Ok(()));
    assert_eq!(check_leader_epoch(5, 5), Ok(()));
    assert_eq!(check_leader_epoch(5, 4), Err(EpochMismatch::Fenced));
    assert_eq!(check_leader_epoch(5, 6), Err(EpochMismatch::Unknown));
}

/// A deterministic pseudo-random source (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A leader and four followers driven at random: appends, fetches that
/// bring a follower part of the way to the leader's end, followers that
/// stop and resume, ISR changes the "controller" commits or refuses,
/// clocks that move. After every step: the high watermark never goes back
/// nor beyond the leader's end; every member of the committed ISR really
/// has every record below it (what acks=all promises); the leader stays
/// in the ISR; an acks=all produce reported done is below the high
/// watermark.
#[test]
fn seeded_runs_keep_committed_records_on_every_isr_member() {
    for seed in 1..=200u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let replicas = [1, 2, 3, 4, 5];
        let mut partition_epoch = 0;
        let mut l = LeaderState::new(1, state(&replicas, &replicas, 0, 0), 0, 0, 0, LAG);
        // What each follower really has (index = broker id).
        let mut has = [0i64; 6];
        let mut stopped = [false; 6];
        let mut now = 0i64;
        let mut last_hw = 0;
        let mut in_flight: Option<IsrProposal> = None;
        for step in 0..2_000 {
            match rng.below(10) {
                0..=2 => {
                    let end = l.log_end_offset() + 1 + rng.below(5) as i64;
                    l.on_local_append(end);
                }
                3..=5 => {
                    let f = 2 + rng.below(4) as usize;
                    if !stopped[f] {
                        // The fetch reports what it has, then receives
                        // part of what the leader has.
                        l.on_follower_fetch(f as i32, 1, has[f], now).unwrap();
                        let end = l.log_end_offset();
                        has[f] += rng.below((end - has[f] + 1) as u64) as i64;
                    }
                }
                6 => {
                    let f = 2 + rng.below(4) as usize;
                    stopped[f] = !stopped[f];
                }
                7 => now += rng.below(4_000) as i64,
                _ => match in_flight.take() {
                    // The controller answers some steps after the request.
                    Some(p) => {
                        if rng.below(4) == 0 {
                            l.on_isr_failed();
                        } else {
                            partition_epoch += 1;
                            let isr: Vec<i32> = p.new_isr.iter().map(|(r, _)| *r).collect();
                            l.on_isr_committed(state(&replicas, &isr, 0, partition_epoch));
                        }
                    }
                    None => {
                        in_flight = l.propose_isr_change(now, |_, _| true);
                        if let Some(p) = &in_flight {
                            assert_eq!(p.partition_epoch, partition_epoch);
                        }
                    }
                },
            }
            let hw = l.high_watermark();
            assert!(hw >= last_hw, "seed {seed} step {step}: hw went back");
            assert!(hw <= l.log_end_offset());
            assert!(l.isr().contains(&1));
            for r in l.maximal_isr() {
                if r != 1 {
                    assert!(
                        has[r as usize] >= hw,
                        "seed {seed} step {step}: ISR member {r} has {} < hw {hw}",
                        has[r as usize]
                    );
                }
            }
            if l.acks_all_outcome(hw, 1).is_some() {
                assert!(l.acks_all_outcome(hw + 1, 1).is_none());
            }
            last_hw = hw;
        }
        assert!(last_hw > 0, "seed {seed}: nothing was ever committed");
    }
}

#[test]
fn under_the_strict_min_isr_rule_the_high_watermark_waits_for_a_big_enough_isr() {
    // KIP-966: min.insync.replicas 2, and a leader alone in its ISR (as
    // one elected from the eligible replicas): its log's tail beyond the
    // high watermark is not committed on taking over.
    let mut l = LeaderState::with_strict_min_isr(
        1,
        state(&[1, 2, 3], &[1], 5, 7),
        110,
        100,
        0,
        LAG,
        Some(2),
    );
    assert_eq!(l.high_watermark(), 100);
    assert_eq!(l.set_strict_min_isr(Some(2)), None);
    // acks=1 records the leader alone has are not committed ...
    assert_eq!(l.on_local_append(120), None);
    assert_eq!(l.high_watermark(), 100);
    // ... and turning the rule off lets the high watermark catch up.
    assert_eq!(l.set_strict_min_isr(None), Some(120));
    assert_eq!(l.set_strict_min_isr(Some(2)), None);
    assert_eq!(l.on_local_append(130), None);
    // With a second member committed to the ISR, it moves again.
    assert_eq!(l.on_follower_fetch(2, 1, 130, 1), Ok(None));
    assert_eq!(
        l.on_isr_committed(state(&[1, 2, 3], &[1, 2], 5, 8)),
        Some(130)
    );
}
