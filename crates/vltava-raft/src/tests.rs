//! Unit tests of single transitions and rules. The simulation
//! (`tests/simulation.rs`) checks the whole under faults.

use bytes::Bytes;

use crate::*;

const CLUSTER: &str = "c1";

fn cfg(id: NodeId, voters: &[NodeId]) -> Config {
    let mut c = Config::new(id, CLUSTER, voters.iter().copied());
    c.random_seed = 7;
    c
}

fn node(id: NodeId, voters: &[NodeId], log: MemLog, state: QuorumStateData) -> RaftNode<MemLog> {
    RaftNode::new(cfg(id, voters), log, state, 0)
}

fn batch(base: Offset, epoch: Epoch, payload: &'static [u8]) -> Batch {
    Batch {
        base_offset: base,
        epoch,
        record_count: 1,
        kind: BatchKind::Data,
        payload: Bytes::from_static(payload),
    }
}

/// A durable log with one single-record batch per epoch in `epochs`.
fn log_with(epochs: &[Epoch]) -> MemLog {
    let mut log = MemLog::new();
    for (i, &e) in epochs.iter().enumerate() {
        log.append(vec![batch(i as Offset, e, b"x")]);
    }
    log.flush();
    log
}

fn sends(actions: &[Action]) -> Vec<(NodeId, Message)> {
    sends_with_ids(actions)
        .into_iter()
        .map(|(to, _, m)| (to, m))
        .collect()
}

fn sends_with_ids(actions: &[Action]) -> Vec<(NodeId, u64, Message)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Send {
                to,
                correlation_id,
                message,
            } => Some((*to, *correlation_id, message.clone())),
            _ => None,
        })
        .collect()
}

/// The last message sent, with its correlation id.
fn last(actions: &[Action]) -> (u64, Message) {
    let (_, id, m) = sends_with_ids(actions).pop().expect("a message");
    (id, m)
}

fn vote_request(
    candidate: NodeId,
    to: NodeId,
    epoch: Epoch,
    last_epoch: Epoch,
    last_offset: Offset,
    pre_vote: bool,
) -> Message {
    Message::VoteRequest(VoteRequest {
        cluster_id: CLUSTER.into(),
        voter_id: to,
        voter_directory_id: [0; 16],
        candidate_directory_id: [0; 16],
        candidate_epoch: epoch,
        candidate_id: candidate,
        last_offset_epoch: last_epoch,
        last_offset,
        pre_vote,
    })
}

fn vote_answer(actions: &[Action]) -> VoteResponse {
    match sends(actions).pop() {
        Some((_, Message::VoteResponse(r))) => r,
        other => panic!("expected a vote response, got {other:?}"),
    }
}

fn granted(pre_vote: bool, epoch: Epoch) -> Message {
    Message::VoteResponse(VoteResponse {
        error_code: ErrorCode::NONE,
        partition_error_code: ErrorCode::NONE,
        leader_id: None,
        leader_epoch: epoch,
        vote_granted: true,
        pre_vote,
    })
}

fn fetch(from: NodeId, epoch: Epoch, offset: Offset, last_epoch: Epoch) -> Message {
    fetch_with_dir(from, [0; 16], epoch, offset, last_epoch)
}

fn fetch_with_dir(
    from: NodeId,
    directory_id: [u8; 16],
    epoch: Epoch,
    offset: Offset,
    last_epoch: Epoch,
) -> Message {
    Message::FetchRequest(FetchRequest {
        cluster_id: CLUSTER.into(),
        replica_id: from,
        replica_directory_id: directory_id,
        current_leader_epoch: epoch,
        fetch_offset: offset,
        last_fetched_epoch: last_epoch,
        max_wait_ms: 0,
        max_bytes: 1 << 20,
    })
}

fn fetch_answer(actions: &[Action]) -> FetchResponse {
    match sends(actions).pop() {
        Some((_, Message::FetchResponse(r))) => r,
        other => panic!("expected a fetch response, got {other:?}"),
    }
}

/// Delivers the follower's last request to the leader and the leader's
/// answer back (same correlation id); returns the follower's actions.
fn roundtrip(
    f: &mut RaftNode<MemLog>,
    l: &mut RaftNode<MemLog>,
    requests: &[Action],
    now: Millis,
) -> Vec<Action> {
    let (id, req) = last(requests);
    let (_, resp) = last(&l.on_message(f.id(), id, req, now));
    f.on_message(l.id(), id, resp, now)
}

/// Makes node 1 of {1,2,3} leader: pre-vote and vote granted by node 2.
fn elect_leader(log: MemLog, epoch: Epoch) -> RaftNode<MemLog> {
    let state = QuorumStateData {
        leader_epoch: epoch - 1,
        ..Default::default()
    };
    let mut n = node(1, &[1, 2, 3], log, state);
    let t = n.next_deadline();
    n.tick(t);
    assert_eq!(n.role(), RoleKind::Prospective);
    n.on_message(2, 0, granted(true, epoch - 1), t);
    assert_eq!(n.role(), RoleKind::Candidate);
    assert_eq!(n.epoch(), epoch);
    n.on_message(2, 0, granted(false, epoch), t);
    assert_eq!(n.role(), RoleKind::Leader);
    n
}

#[test]
fn single_voter_elects_itself_and_commits_only_flushed_entries() {
    let mut n = node(1, &[1], MemLog::new(), QuorumStateData::default());
    let actions = n.tick(0);
    assert!(n.is_leader());
    assert_eq!(n.epoch(), 1);
    // The leader's epoch state is persisted, the LeaderChange appended.
    assert!(actions
        .iter()
        .any(|a| matches!(a, Action::PersistQuorumState(s) if s.leader_id == Some(1))));
    assert_eq!(n.log().end_offset(), 1);
    assert_eq!(n.high_watermark(), 0, "nothing is flushed yet");
    let (base, epoch, _) = n.propose(Bytes::from_static(b"a"), 3, 1).unwrap();
    assert_eq!((base, epoch), (1, 1));
    assert_eq!(n.high_watermark(), 0);
    let end = n.log_mut().flush();
    let actions = n.on_flushed(end, 2);
    assert_eq!(n.high_watermark(), 4);
    assert!(actions.contains(&Action::HighWatermark(4)));
}

#[test]
fn vote_is_persisted_before_the_grant_is_sent() {
    let mut n = node(2, &[1, 2, 3], MemLog::new(), QuorumStateData::default());
    let actions = n.on_message(1, 0, vote_request(1, 2, 1, 0, 0, false), 0);
    let persist = actions.iter().position(|a| matches!(a, Action::PersistQuorumState(s) if s.voted_id == Some(1) && s.leader_epoch == 1));
    let send = actions
        .iter()
        .position(|a| matches!(a, Action::Send { .. }));
    assert!(persist.unwrap() < send.unwrap(), "{actions:?}");
    assert!(vote_answer(&actions).vote_granted);
    assert_eq!(n.voted_for(), Some(1));
}

#[test]
fn one_vote_per_epoch() {
    let mut n = node(3, &[1, 2, 3], MemLog::new(), QuorumStateData::default());
    assert!(vote_answer(&n.on_message(1, 0, vote_request(1, 3, 1, 0, 0, false), 0)).vote_granted);
    // Another candidate in the same epoch is refused, the same one again granted.
    assert!(!vote_answer(&n.on_message(2, 0, vote_request(2, 3, 1, 0, 0, false), 1)).vote_granted);
    assert!(vote_answer(&n.on_message(1, 0, vote_request(1, 3, 1, 0, 0, false), 2)).vote_granted);
    // A vote survives a restart through the persisted state.
    let state = n.quorum_state().clone();
    let mut n = node(3, &[1, 2, 3], MemLog::new(), state);
    assert!(!vote_answer(&n.on_message(2, 0, vote_request(2, 3, 1, 0, 0, false), 3)).vote_granted);
    // A later epoch frees the vote.
    assert!(vote_answer(&n.on_message(2, 0, vote_request(2, 3, 2, 0, 0, false), 4)).vote_granted);
}

#[test]
fn vote_refused_to_a_less_up_to_date_log() {
    // Our log ends at offset 3 with epoch 2.
    let log = || log_with(&[1, 1, 2]);
    let mut n = node(2, &[1, 2, 3], log(), QuorumStateData::default());
    // Lower last epoch, even with a longer log: refused.
    assert!(!vote_answer(&n.on_message(1, 0, vote_request(1, 2, 3, 1, 10, false), 0)).vote_granted);
    // Same last epoch, shorter log: refused.
    let mut n = node(2, &[1, 2, 3], log(), QuorumStateData::default());
    assert!(!vote_answer(&n.on_message(1, 0, vote_request(1, 2, 3, 2, 2, false), 0)).vote_granted);
    // Same epoch and length: granted; higher epoch with a shorter log: granted.
    let mut n = node(2, &[1, 2, 3], log(), QuorumStateData::default());
    assert!(vote_answer(&n.on_message(1, 0, vote_request(1, 2, 3, 2, 3, false), 0)).vote_granted);
    let mut n = node(2, &[1, 2, 3], log(), QuorumStateData::default());
    assert!(vote_answer(&n.on_message(1, 0, vote_request(1, 2, 3, 3, 1, false), 0)).vote_granted);
}

#[test]
fn stale_epochs_are_fenced() {
    let state = QuorumStateData {
        leader_epoch: 5,
        ..Default::default()
    };
    let mut n = node(2, &[1, 2, 3], MemLog::new(), state);
    let r = vote_answer(&n.on_message(1, 0, vote_request(1, 2, 4, 0, 0, false), 0));
    assert_eq!(r.partition_error_code, ErrorCode::FENCED_LEADER_EPOCH);
    assert_eq!(r.leader_epoch, 5);
    assert!(!r.vote_granted);
    let actions = n.on_message(
        1,
        0,
        Message::BeginQuorumEpochRequest(BeginQuorumEpochRequest {
            cluster_id: CLUSTER.into(),
            voter_id: 2,
            voter_directory_id: [0; 16],
            leader_id: 1,
            leader_epoch: 3,
        }),
        0,
    );
    assert!(
        matches!(&sends(&actions)[0].1, Message::BeginQuorumEpochResponse(r) if r.partition_error_code == ErrorCode::FENCED_LEADER_EPOCH)
    );
    assert_eq!(n.role(), RoleKind::Unattached);
    // A fetch from an old epoch to a leader is fenced too.
    let mut l = elect_leader(MemLog::new(), 2);
    let r = fetch_answer(&l.on_message(2, 0, fetch(2, 1, 0, 0), 1));
    assert_eq!(r.partition_error_code, ErrorCode::FENCED_LEADER_EPOCH);
    assert_eq!(r.current_leader, (Some(1), 2));
}

#[test]
fn wrong_cluster_id_is_refused() {
    let mut n = node(2, &[1, 2, 3], MemLog::new(), QuorumStateData::default());
    let mut req = vote_request(1, 2, 1, 0, 0, false);
    if let Message::VoteRequest(r) = &mut req {
        r.cluster_id = "other".into();
    }
    let r = vote_answer(&n.on_message(1, 0, req, 0));
    assert_eq!(r.error_code, ErrorCode::INCONSISTENT_CLUSTER_ID);
    assert_eq!(n.voted_for(), None);
}

#[test]
fn pre_vote_does_not_bump_or_bind_epochs() {
    let state = QuorumStateData {
        leader_epoch: 4,
        ..Default::default()
    };
    let mut n = node(1, &[1, 2, 3], MemLog::new(), state);
    let t = n.next_deadline();
    let actions = n.tick(t);
    assert_eq!(n.role(), RoleKind::Prospective);
    assert_eq!(n.epoch(), 4, "a pre-vote keeps the epoch");
    assert!(!actions
        .iter()
        .any(|a| matches!(a, Action::PersistQuorumState(_))));
    for (_, m) in sends(&actions) {
        assert!(matches!(m, Message::VoteRequest(ref r) if r.pre_vote && r.candidate_epoch == 4));
    }
    // A voter answering a pre-vote of a higher epoch neither adopts the
    // epoch nor records a vote.
    let mut v = node(2, &[1, 2, 3], MemLog::new(), QuorumStateData::default());
    let actions = v.on_message(1, 0, vote_request(1, 2, 4, 0, 0, true), 0);
    assert!(vote_answer(&actions).vote_granted);
    assert_eq!(v.epoch(), 0);
    assert_eq!(v.voted_for(), None);
    assert!(!actions
        .iter()
        .any(|a| matches!(a, Action::PersistQuorumState(_))));
    // Rejections from a majority end the pre-vote without an epoch bump.
    let rejected = |epoch| {
        Message::VoteResponse(VoteResponse {
            error_code: ErrorCode::NONE,
            partition_error_code: ErrorCode::NONE,
            leader_id: None,
            leader_epoch: epoch,
            vote_granted: false,
            pre_vote: true,
        })
    };
    n.on_message(2, 0, rejected(4), t);
    n.on_message(3, 0, rejected(4), t);
    assert_eq!(n.role(), RoleKind::Unattached);
    assert_eq!(n.epoch(), 4);
}

#[test]
fn follower_that_hears_its_leader_refuses_pre_votes() {
    let state = QuorumStateData {
        leader_epoch: 3,
        leader_id: Some(1),
        voted_id: None,
    };
    let mut f = node(2, &[1, 2, 3], MemLog::new(), state);
    // Contact from the leader: a BeginQuorumEpoch.
    f.on_message(
        1,
        0,
        Message::BeginQuorumEpochRequest(BeginQuorumEpochRequest {
            cluster_id: CLUSTER.into(),
            voter_id: 2,
            voter_directory_id: [0; 16],
            leader_id: 1,
            leader_epoch: 3,
        }),
        100,
    );
    assert!(!vote_answer(&f.on_message(3, 0, vote_request(3, 2, 3, 0, 0, true), 200)).vote_granted);
    // After fetch.timeout without the leader, it grants.
    let later = 100 + f.config().fetch_timeout_ms + 1;
    assert!(
        vote_answer(&f.on_message(3, 0, vote_request(3, 2, 3, 0, 0, true), later)).vote_granted
    );
}

#[test]
fn follower_goes_prospective_after_fetch_timeout() {
    let state = QuorumStateData {
        leader_epoch: 3,
        leader_id: Some(1),
        voted_id: None,
    };
    let mut f = node(2, &[1, 2, 3], MemLog::new(), state);
    let actions = f.tick(0);
    assert!(matches!(sends(&actions)[0], (1, Message::FetchRequest(_))));
    f.tick(f.config().fetch_timeout_ms - 1);
    assert_eq!(f.role(), RoleKind::Follower);
    f.tick(f.config().fetch_timeout_ms);
    assert_eq!(f.role(), RoleKind::Prospective);
    assert_eq!(f.epoch(), 3);
}

#[test]
fn election_timeout_is_randomised_within_bounds() {
    let mut seen = std::collections::BTreeSet::new();
    for seed in 0..50 {
        let mut c = cfg(1, &[1, 2, 3]);
        c.random_seed = seed;
        let n = RaftNode::new(c, MemLog::new(), QuorumStateData::default(), 1000);
        let d = n.next_deadline() - 1000;
        assert!((1000..2000).contains(&d), "{d}");
        seen.insert(d);
    }
    assert!(seen.len() > 10, "timeouts should differ across seeds");
}

#[test]
fn leader_appends_leader_change_and_announces_itself() {
    let mut log = log_with(&[1, 1]);
    log.flush();
    let state = QuorumStateData {
        leader_epoch: 1,
        ..Default::default()
    };
    let mut n = node(1, &[1, 2, 3], log, state);
    let t = n.next_deadline();
    n.tick(t);
    n.on_message(2, 0, granted(true, 1), t);
    let actions = n.on_message(2, 0, granted(false, 2), t);
    assert!(n.is_leader());
    let last = n.log().read(2, 1 << 20);
    assert!(matches!(
        last[0].kind,
        BatchKind::LeaderChange { leader_id: 1, .. }
    ));
    assert_eq!(last[0].epoch, 2);
    let begins: Vec<NodeId> = sends(&actions)
        .into_iter()
        .filter(|(_, m)| matches!(m, Message::BeginQuorumEpochRequest(_)))
        .map(|(to, _)| to)
        .collect();
    assert_eq!(begins, vec![2, 3]);
}

#[test]
fn hw_needs_a_majority_of_flushed_voters_and_an_entry_of_the_current_epoch() {
    // Old entries of epoch 1 at offsets 0..2; leader of epoch 2 appends its
    // LeaderChange at 2.
    let mut l = elect_leader(log_with(&[1, 1]), 2);
    assert_eq!(l.log().end_offset(), 3);
    // Leader flushed, follower 2 has the old entries only: a majority has
    // offset 2, but that holds no entry of epoch 2, so no commit.
    let end = l.log_mut().flush();
    l.on_flushed(end, 1);
    l.on_message(2, 0, fetch(2, 2, 2, 1), 2);
    assert_eq!(l.high_watermark(), 0);
    // Once the follower has the LeaderChange, everything up to it commits.
    l.on_message(2, 0, fetch(2, 2, 3, 2), 3);
    assert_eq!(l.high_watermark(), 3);
    // Observers do not count: a new entry fetched by an observer only stays
    // uncommitted.
    l.propose(Bytes::from_static(b"y"), 1, 4).unwrap();
    let end = l.log_mut().flush();
    l.on_flushed(end, 4);
    l.on_message(9, 0, fetch(9, 2, 4, 2), 5);
    assert_eq!(l.high_watermark(), 3);
    // The leader's own unflushed entry does not count either.
    l.propose(Bytes::from_static(b"z"), 1, 6).unwrap();
    l.on_message(2, 0, fetch(2, 2, 5, 2), 7);
    assert_eq!(l.high_watermark(), 4, "leader flushed 4, follower has 5");
    let end = l.log_mut().flush();
    l.on_flushed(end, 8);
    assert_eq!(l.high_watermark(), 5);
    // HW never goes back, even if a duplicate old fetch arrives.
    l.on_message(2, 0, fetch(2, 2, 3, 2), 9);
    assert_eq!(l.high_watermark(), 5);
}

#[test]
fn diverging_follower_truncates_to_the_leaders_epoch_end() {
    // Leader: epochs [1,1,3] then its LeaderChange in epoch 4.
    let mut l = elect_leader(log_with(&[1, 1, 3]), 4);
    // Follower: [1,1,2,2] -- it has epoch-2 entries the leader never had.
    let state = QuorumStateData {
        leader_epoch: 4,
        leader_id: Some(1),
        voted_id: None,
    };
    let mut f = node(2, &[1, 2, 3], log_with(&[1, 1, 2, 2]), state);
    let (id, req) = last(&f.tick(0));
    assert!(
        matches!(&req, Message::FetchRequest(r) if r.fetch_offset == 4 && r.last_fetched_epoch == 2)
    );
    let resp = fetch_answer(&l.on_message(2, id, req, 1));
    // The leader's largest epoch <= 2 is 1, which ends at offset 2.
    assert_eq!(resp.diverging_epoch, Some((1, 2)));
    assert!(resp.records.is_empty());
    let actions = f.on_message(1, id, Message::FetchResponse(resp.clone()), 2);
    assert_eq!(f.log().end_offset(), 2);
    // It fetches again from the truncation point and gets the leader's tail.
    let (_, req) = last(&actions);
    assert!(
        matches!(&req, Message::FetchRequest(r) if r.fetch_offset == 2 && r.last_fetched_epoch == 1)
    );
    roundtrip(&mut f, &mut l, &actions, 3);
    assert_eq!(f.log().end_offset(), 4);
    assert_eq!(f.log().epoch_before(4), Some(4));
    // A late duplicate of the DivergingEpoch answer must not cut that, even
    // once the next fetch is out.
    let end = f.log_mut().flush();
    let actions = f.on_flushed(end, 5);
    assert!(matches!(last(&actions).1, Message::FetchRequest(_)));
    f.on_message(1, id, Message::FetchResponse(resp), 6);
    assert_eq!(f.log().end_offset(), 4);
}

#[test]
fn follower_fetch_offset_waits_for_its_flush() {
    let mut l = elect_leader(MemLog::new(), 1);
    let end = l.log_mut().flush();
    l.on_flushed(end, 0);
    let state = QuorumStateData {
        leader_epoch: 1,
        leader_id: Some(1),
        voted_id: None,
    };
    let mut f = node(2, &[1, 2, 3], MemLog::new(), state);
    let requests = f.tick(0);
    let actions = roundtrip(&mut f, &mut l, &requests, 2);
    assert_eq!(f.log().end_offset(), 1);
    assert!(actions.contains(&Action::Flush));
    assert!(
        sends(&actions).is_empty(),
        "no fetch before the flush: {actions:?}"
    );
    let end = f.log_mut().flush();
    let actions = f.on_flushed(end, 3);
    assert!(matches!(&sends(&actions)[0].1, Message::FetchRequest(r) if r.fetch_offset == 1));
}

#[test]
fn follower_learns_the_hw_from_fetch_responses() {
    let mut l = elect_leader(MemLog::new(), 1);
    let end = l.log_mut().flush();
    l.on_flushed(end, 0);
    let state = QuorumStateData {
        leader_epoch: 1,
        leader_id: Some(1),
        voted_id: None,
    };
    let mut f = node(2, &[1, 2, 3], MemLog::new(), state);
    let requests = f.tick(0);
    roundtrip(&mut f, &mut l, &requests, 1);
    assert_eq!(f.high_watermark(), 0);
    let end = f.log_mut().flush();
    let requests = f.on_flushed(end, 3);
    // This fetch moves the leader's HW, so it is answered at once.
    let actions = roundtrip(&mut f, &mut l, &requests, 4);
    assert_eq!(l.high_watermark(), 1);
    assert_eq!(f.high_watermark(), 1);
    assert!(actions.contains(&Action::HighWatermark(1)));
}

#[test]
fn lagging_follower_catches_up_through_fetch_snapshot() {
    let state = QuorumStateData {
        leader_epoch: 1,
        ..Default::default()
    };
    let mut l = node(1, &[1, 2, 3], MemLog::new(), state);
    let t = l.next_deadline();
    l.tick(t);
    l.on_message(2, 0, granted(true, 1), t);
    l.on_message(2, 0, granted(false, 2), t);
    assert!(l.is_leader());
    for p in [b"a", b"b", b"c"] {
        l.propose(Bytes::from_static(p), 1, t).unwrap();
    }
    let end = l.log_mut().flush();
    l.on_flushed(end, t);
    // Follower 3 commits it with us, then the leader snapshots everything.
    l.on_message(3, 0, fetch(3, 2, 4, 2), t);
    assert_eq!(l.high_watermark(), 4);
    let id = l
        .create_snapshot(4, Bytes::from_static(b"SNAPSHOT"))
        .unwrap();
    assert_eq!(
        id,
        SnapshotId {
            end_offset: 4,
            epoch: 2
        }
    );
    assert_eq!(l.log().start_offset(), 4);
    // Follower 2 with an empty log is sent to the snapshot.
    let state = QuorumStateData {
        leader_epoch: 2,
        leader_id: Some(1),
        voted_id: None,
    };
    // The fetcher sets the chunk size (FetchSnapshot's MaxBytes).
    let mut fc = cfg(2, &[1, 2, 3]);
    fc.snapshot_chunk_bytes = 3;
    let mut f = RaftNode::new(fc, MemLog::new(), state, 0);
    let (mut cid, mut msg) = last(&f.tick(t));
    let mut rounds = 0;
    while f.log().start_offset() < 4 {
        rounds += 1;
        assert!(rounds < 60);
        let (_, resp) = last(&l.on_message(2, cid, msg.clone(), t));
        if let Message::FetchResponse(r) = &resp {
            assert_eq!(r.snapshot_id, Some(id));
        }
        let actions = f.on_message(1, cid, resp, t);
        (cid, msg) = last(&actions);
    }
    assert!(
        rounds > 3,
        "the snapshot (header and content) takes several FetchSnapshot rounds"
    );
    assert_eq!(f.log().latest_snapshot(), Some(id));
    // The state machine puts the voter set in front of the content, as
    // Kafka's snapshots carry a VotersRecord.
    let (voters, content) = decode_snapshot(f.log().snapshot_data(id).unwrap()).unwrap();
    assert_eq!(voters, ids_only(&[1, 2, 3]));
    assert_eq!(content, Bytes::from_static(b"SNAPSHOT"));
    assert_eq!(f.high_watermark(), 4);
    // It then continues with a Fetch from the snapshot's end.
    assert!(
        matches!(&msg, Message::FetchRequest(r) if r.fetch_offset == 4 && r.last_fetched_epoch == 2)
    );
    let Message::FetchRequest(mut req) = msg else {
        unreachable!()
    };
    req.max_wait_ms = 0;
    let r = fetch_answer(&l.on_message(2, cid, Message::FetchRequest(req), t));
    assert!(r.diverging_epoch.is_none() && r.snapshot_id.is_none());
}

#[test]
fn leader_resigns_without_fetches_from_a_majority() {
    let mut l = elect_leader(MemLog::new(), 1);
    let limit = l.config().fetch_timeout_ms * 3 / 2;
    // A fetch from one follower (with the leader, a majority of 3) keeps it.
    l.on_message(2, 0, fetch(2, 1, 0, 0), limit - 10);
    l.tick(limit + 5);
    assert!(l.is_leader());
    // Then silence: it resigns and tells the others.
    let actions = l.tick(limit - 10 + limit);
    assert_eq!(l.role(), RoleKind::Resigned);
    assert!(sends(&actions)
        .iter()
        .any(|(_, m)| matches!(m, Message::EndQuorumEpochRequest(_))));
}

#[test]
fn end_quorum_epoch_lets_the_preferred_successor_start_at_once() {
    let state = QuorumStateData {
        leader_epoch: 3,
        leader_id: Some(1),
        voted_id: None,
    };
    let mut f = node(2, &[1, 2, 3], MemLog::new(), state);
    f.on_message(
        1,
        0,
        Message::EndQuorumEpochRequest(EndQuorumEpochRequest {
            cluster_id: CLUSTER.into(),
            leader_id: 1,
            leader_epoch: 3,
            preferred_candidates: vec![2, 3],
        }),
        100,
    );
    assert_eq!(f.role(), RoleKind::Unattached);
    assert_eq!(f.next_deadline(), 100);
    f.tick(100);
    assert_eq!(f.role(), RoleKind::Prospective);
}

#[test]
fn restarted_leader_comes_back_resigned() {
    let l = elect_leader(MemLog::new(), 3);
    let state = l.quorum_state().clone();
    assert_eq!(state.leader_id, Some(1));
    let n = node(1, &[1, 2, 3], l.log().crash(), state);
    assert_eq!(n.role(), RoleKind::Resigned);
    assert_eq!(n.epoch(), 3);
}

#[test]
fn observer_finds_the_leader_and_never_stands() {
    let mut l = elect_leader(MemLog::new(), 1);
    let mut o = node(9, &[1, 2, 3], MemLog::new(), QuorumStateData::default());
    let mut now = 0;
    let mut leader_found = false;
    for _ in 0..20 {
        now += 3000;
        let actions = o.tick(now);
        assert!(!matches!(
            o.role(),
            RoleKind::Prospective | RoleKind::Candidate
        ));
        for (to, id, m) in sends_with_ids(&actions) {
            if to == 1 {
                let (_, resp) = last(&l.on_message(9, id, m, now));
                o.on_message(1, id, resp, now);
                leader_found |= o.leader() == Some(1);
            }
        }
    }
    assert!(leader_found);
    assert_eq!(o.role(), RoleKind::Follower);
}

#[test]
fn epoch_cache_answers_end_offset_for_epoch() {
    let mut c = EpochCache::new(0, 0);
    c.assign(1, 0);
    c.assign(1, 5);
    c.assign(3, 10);
    assert_eq!(c.end_offset_for_epoch(1, 20), Some((1, 10)));
    assert_eq!(c.end_offset_for_epoch(2, 20), Some((1, 10)));
    assert_eq!(c.end_offset_for_epoch(3, 20), Some((3, 20)));
    assert_eq!(c.end_offset_for_epoch(0, 20), Some((0, 0)));
    assert_eq!(c.epoch_before(10), 1);
    assert_eq!(c.epoch_before(11), 3);
    c.truncate_to(10);
    assert_eq!(c.last_epoch(), 1);
    c.truncate_from_start(1, 7);
    assert_eq!(c.end_offset_for_epoch(0, 9), None);
    assert_eq!(c.end_offset_for_epoch(1, 9), Some((1, 9)));
    assert_eq!(c.epoch_before(7), 1);
}

#[test]
fn mem_log_crash_keeps_only_flushed_batches() {
    let mut log = log_with(&[1, 1]);
    log.append(vec![batch(2, 2, b"unflushed")]);
    let after = log.crash();
    assert_eq!(after.end_offset(), 2);
    // A truncation is durable at once: a crash cannot resurrect the tail.
    let mut log = log_with(&[1, 1, 1]);
    log.truncate_to(1);
    log.append(vec![batch(1, 2, b"new")]);
    assert_eq!(log.crash().end_offset(), 1);
}

#[test]
fn describe_quorum_reports_voters_and_observers() {
    let mut l = elect_leader(MemLog::new(), 1);
    let end = l.log_mut().flush();
    l.on_flushed(end, 10);
    l.on_message(2, 0, fetch(2, 1, 1, 1), 20);
    l.on_message(9, 0, fetch(9, 1, 0, 0), 30);
    let q = l.describe_quorum().unwrap();
    assert_eq!((q.leader_id, q.leader_epoch, q.high_watermark), (1, 1, 1));
    let ends: Vec<(NodeId, Offset)> = q
        .current_voters
        .iter()
        .map(|r| (r.replica_id, r.log_end_offset))
        .collect();
    assert_eq!(ends, vec![(1, 1), (2, 1), (3, -1)]);
    assert_eq!(q.current_voters[1].last_caught_up_ms, Some(20));
    assert_eq!(q.observers.len(), 1);
    assert_eq!(q.observers[0].replica_id, 9);
    assert_eq!(q.observers[0].log_end_offset, 0);
    // Only the leader answers.
    let f = node(2, &[1, 2, 3], MemLog::new(), QuorumStateData::default());
    assert!(f.describe_quorum().is_none());
}

/// A leader of {1,2,3} that has committed its LeaderChange (node 2 fetched).
fn committed_leader() -> RaftNode<MemLog> {
    let mut l = elect_leader(MemLog::new(), 1);
    let end = l.log_mut().flush();
    l.on_flushed(end, 0);
    l.on_message(2, 0, fetch(2, 1, 1, 1), 1);
    assert_eq!(l.high_watermark(), 1);
    l
}

fn voters_of(n: &RaftNode<MemLog>) -> Vec<NodeId> {
    n.voters().iter().copied().collect()
}

fn ids_only(ids: &[NodeId]) -> Vec<Voter> {
    ids.iter().map(|&id| Voter::id_only(id)).collect()
}

#[test]
fn add_voter_takes_effect_when_appended_and_one_change_at_a_time() {
    let mut l = committed_leader();
    // Observer 9 has not fetched: not caught up.
    assert_eq!(
        l.add_voter(Voter::id_only(9), 2).unwrap_err(),
        VoterChangeError::NotCaughtUp
    );
    l.on_message(9, 0, fetch(9, 1, 1, 1), 3);
    assert_eq!(
        l.add_voter(Voter::id_only(2), 3).unwrap_err(),
        VoterChangeError::DuplicateVoter
    );
    assert_eq!(
        l.remove_voter(9, [0; 16], 3).unwrap_err(),
        VoterChangeError::VoterNotFound
    );
    let (offset, actions) = l.add_voter(Voter::id_only(9), 4).unwrap();
    assert_eq!(offset, 1);
    assert!(actions.contains(&Action::Flush));
    assert_eq!(voters_of(&l), vec![1, 2, 3, 9], "in force once appended");
    assert!(
        matches!(l.log().read(1, 1)[0].kind, BatchKind::Voters { ref voters } if voters == &ids_only(&[1, 2, 3, 9]))
    );
    // A second change waits for the first to commit.
    assert_eq!(
        l.remove_voter(3, [0; 16], 5).unwrap_err(),
        VoterChangeError::ChangeInProgress
    );
    // The new set's majority is 3 of 4: leader + node 2 no longer commit.
    let end = l.log_mut().flush();
    l.on_flushed(end, 6);
    l.on_message(2, 0, fetch(2, 1, 2, 1), 7);
    assert_eq!(l.high_watermark(), 1);
    l.on_message(9, 0, fetch(9, 1, 2, 1), 8);
    assert_eq!(l.high_watermark(), 2);
    assert_eq!(
        VoterChangeError::ChangeInProgress.error_code(),
        ErrorCode::REQUEST_TIMED_OUT
    );
    // Now the next change is allowed.
    assert!(l.remove_voter(3, [0; 16], 9).is_ok());
    assert_eq!(voters_of(&l), vec![1, 2, 9]);
}

#[test]
fn no_voter_change_before_the_leader_commits_in_its_epoch() {
    let mut l = elect_leader(MemLog::new(), 1);
    l.on_message(9, 0, fetch(9, 1, 0, 0), 1);
    assert_eq!(
        l.add_voter(Voter::id_only(9), 2).unwrap_err(),
        VoterChangeError::ChangeInProgress
    );
    let f = node(2, &[1, 2, 3], MemLog::new(), QuorumStateData::default());
    assert_eq!(f.voters().len(), 3);
}

#[test]
fn follower_voter_set_follows_its_log_and_reverts_on_truncation() {
    // Leader of epoch 3 over [1, 1]; the follower has an uncommitted
    // VotersRecord of epoch 2 at offset 2 that the leader never had.
    let mut l = elect_leader(log_with(&[1, 1]), 3);
    let mut flog = log_with(&[1, 1]);
    flog.append(vec![Batch {
        base_offset: 2,
        epoch: 2,
        record_count: 1,
        kind: BatchKind::Voters {
            voters: ids_only(&[1, 2]),
        },
        payload: Bytes::new(),
    }]);
    flog.flush();
    let state = QuorumStateData {
        leader_epoch: 3,
        leader_id: Some(1),
        voted_id: None,
    };
    let mut f = node(2, &[1, 2, 3], flog, state);
    assert_eq!(
        voters_of(&f),
        vec![1, 2],
        "rebuilt from the log at start-up"
    );
    let requests = f.tick(0);
    roundtrip(&mut f, &mut l, &requests, 1);
    assert_eq!(f.log().end_offset(), 2, "diverging tail truncated");
    assert_eq!(voters_of(&f), vec![1, 2, 3], "and its voter set with it");
}

#[test]
fn leader_that_removes_itself_resigns_once_the_change_commits() {
    let mut l = committed_leader();
    l.remove_voter(1, [0; 16], 2).unwrap();
    assert!(l.is_leader(), "it leads until the change commits");
    let end = l.log_mut().flush();
    l.on_flushed(end, 3);
    // The new set {2,3} needs both: node 2 alone does not commit.
    l.on_message(2, 0, fetch(2, 1, 2, 1), 4);
    assert!(l.is_leader());
    let actions = l.on_message(3, 0, fetch(3, 1, 2, 1), 5);
    assert_eq!(l.high_watermark(), 2);
    assert_eq!(l.role(), RoleKind::Resigned);
    assert!(sends(&actions)
        .iter()
        .any(|(_, m)| matches!(m, Message::EndQuorumEpochRequest(_))));
    // As a non-voter it never stands again; it looks for the leader.
    l.tick(10_000);
    assert_eq!(l.role(), RoleKind::Unattached);
    l.tick(20_000);
    assert!(!matches!(
        l.role(),
        RoleKind::Prospective | RoleKind::Candidate
    ));
}

#[test]
fn snapshot_carries_the_voter_set() {
    let mut l = committed_leader();
    l.on_message(9, 0, fetch(9, 1, 1, 1), 2);
    l.add_voter(Voter::id_only(9), 3).unwrap();
    let end = l.log_mut().flush();
    l.on_flushed(end, 4);
    l.on_message(2, 0, fetch(2, 1, 2, 1), 5);
    l.on_message(9, 0, fetch(9, 1, 2, 1), 5);
    assert_eq!(l.high_watermark(), 2);
    let id = l.create_snapshot(2, Bytes::from_static(b"s")).unwrap();
    let (voters, _) = decode_snapshot(l.log().snapshot_data(id).unwrap()).unwrap();
    assert_eq!(voters, ids_only(&[1, 2, 3, 9]));
    // A restart from the snapshot alone knows the set.
    let n = node(1, &[1, 2, 3], l.log().crash(), l.quorum_state().clone());
    assert_eq!(n.log().start_offset(), 2);
    assert_eq!(voters_of(&n), vec![1, 2, 3, 9]);
}

#[test]
fn failed_vote_request_is_sent_again_after_the_backoff() {
    let mut n = node(1, &[1, 2, 3], MemLog::new(), QuorumStateData::default());
    let t = n.next_deadline();
    let actions = n.tick(t);
    assert_eq!(n.role(), RoleKind::Prospective);
    let (_, id2, _) = sends_with_ids(&actions)
        .into_iter()
        .find(|(to, _, _)| *to == 2)
        .unwrap();
    n.on_request_failed(2, id2, t + 1);
    let backoff = n.config().retry_backoff_ms;
    assert!(
        sends(&n.tick(t + backoff)).is_empty(),
        "not before the backoff"
    );
    let again = sends(&n.tick(t + 1 + backoff));
    assert!(matches!(again.as_slice(), [(2, Message::VoteRequest(r))] if r.pre_vote));
}

#[test]
fn follower_with_a_longer_log_of_older_epochs_installs_the_leaders_snapshot() {
    // The leader's log starts after a snapshot at 4 (epoch 2).
    let mut llog = log_with(&[1, 1, 2, 2]);
    llog.store_snapshot(
        SnapshotId {
            end_offset: 4,
            epoch: 2,
        },
        encode_snapshot(&ids_only(&[1, 2, 3]), b"s"),
    );
    let mut l = elect_leader(llog, 3);
    // The follower has six records of epoch 1: longer than the snapshot,
    // but its last epoch is older than anything the leader still has.
    let state = QuorumStateData {
        leader_epoch: 3,
        leader_id: Some(1),
        voted_id: None,
    };
    let mut f = node(2, &[1, 2, 3], log_with(&[1; 6]), state);
    let mut actions = f.tick(0);
    for round in 0..10 {
        if f.log().start_offset() == 4 {
            break;
        }
        assert!(round < 9, "never installed the snapshot");
        actions = roundtrip(&mut f, &mut l, &actions, 1);
    }
    assert_eq!(
        f.log().latest_snapshot(),
        Some(SnapshotId {
            end_offset: 4,
            epoch: 2
        })
    );
    assert_eq!(f.log().end_offset(), 4, "the divergent tail is gone");
}

/// Node 3's log: one record of epoch 1, then an uncommitted VotersRecord of
/// epoch 1 that removes node 3 (written by node 3 as leader).
fn removed_by_uncommitted_change() -> MemLog {
    let mut log = log_with(&[1]);
    log.append(vec![Batch {
        base_offset: 1,
        epoch: 1,
        record_count: 1,
        kind: BatchKind::Voters {
            voters: ids_only(&[1]),
        },
        payload: Bytes::new(),
    }]);
    log.flush();
    log
}

#[test]
fn replica_outside_its_own_voter_set_still_answers_votes() {
    let state = QuorumStateData {
        leader_epoch: 1,
        ..Default::default()
    };
    let mut n = node(3, &[1, 3], removed_by_uncommitted_change(), state);
    assert_eq!(voters_of(&n), vec![1]);
    // Node 1 (still in the set {1,3} as far as its log goes) asks with a
    // log as long as ours: granted, or the quorum could not move.
    let r = vote_answer(&n.on_message(1, 0, vote_request(1, 3, 2, 1, 2, false), 0));
    assert!(r.vote_granted, "{r:?}");
}

#[test]
fn replica_removed_by_an_uncommitted_change_may_stand_and_counts_the_new_set() {
    let state = QuorumStateData {
        leader_epoch: 1,
        ..Default::default()
    };
    let mut n = node(3, &[1, 3], removed_by_uncommitted_change(), state);
    let t = n.next_deadline();
    let actions = n.tick(t);
    assert_eq!(n.role(), RoleKind::Prospective);
    // It asks the new set only; its own vote does not count there.
    let asked: Vec<NodeId> = sends(&actions).into_iter().map(|(to, _)| to).collect();
    assert_eq!(asked, vec![1]);
    n.on_message(1, 0, granted(true, 1), t);
    assert_eq!(n.role(), RoleKind::Candidate);
    n.on_message(1, 0, granted(false, 2), t);
    assert_eq!(n.role(), RoleKind::Leader);
    // Once the removal commits (node 1 has it and the new LeaderChange), it
    // steps down.
    let end = n.log_mut().flush();
    n.on_flushed(end, t);
    n.on_message(1, 0, fetch(1, 2, 3, 2), t + 1);
    assert_eq!(n.high_watermark(), 3);
    assert_eq!(n.role(), RoleKind::Resigned);
}

fn controller(id: NodeId) -> Voter {
    Voter {
        id,
        directory_id: [id as u8; 16],
        endpoints: vec![Endpoint {
            name: "CONTROLLER".into(),
            host: format!("c{id}"),
            port: 9093,
        }],
    }
}

/// A log holding only a bootstrap checkpoint (what `storage format
/// --standalone` or `--initial-controllers` writes) naming `voters`.
fn bootstrapped_log(voters: &[Voter]) -> MemLog {
    let mut log = MemLog::new();
    log.store_snapshot(
        SnapshotId {
            end_offset: 0,
            epoch: 0,
        },
        encode_snapshot(voters, b""),
    );
    log
}

#[test]
fn bootstrap_checkpoint_names_the_voters_and_the_first_leader_logs_them() {
    // No static voters: the set comes from the checkpoint alone.
    let mut n = node(
        1,
        &[],
        bootstrapped_log(&[controller(1)]),
        QuorumStateData::default(),
    );
    assert_eq!(voters_of(&n), vec![1]);
    n.tick(0);
    assert!(n.is_leader(), "a quorum of one elects itself");
    let batches = n.log().read(0, usize::MAX);
    assert!(matches!(batches[0].kind, BatchKind::LeaderChange { .. }));
    assert!(
        matches!(&batches[1].kind, BatchKind::Voters { voters } if voters == &[controller(1)]),
        "the checkpoint's voters, endpoints and all, go into the log: {:?}",
        batches[1].kind
    );
    // Written once: a later leader of the same log writes no second one.
    let end = n.log_mut().flush();
    n.on_flushed(end, 1);
    assert_eq!(n.high_watermark(), 2);
    n.resign(2);
    let mut log = n.log().crash();
    log.flush();
    let mut again = node(1, &[], log, n.quorum_state().clone());
    again.tick(10_000);
    again.tick(20_000);
    assert!(again.is_leader());
    let voter_records = again
        .log()
        .read(0, usize::MAX)
        .iter()
        .filter(|b| matches!(b.kind, BatchKind::Voters { .. }))
        .count();
    assert_eq!(voter_records, 1);
    assert_eq!(again.voter_details(), &[controller(1)]);
}

#[test]
fn an_observer_without_a_checkpoint_learns_the_voters_from_the_log() {
    let mut l = node(
        1,
        &[],
        bootstrapped_log(&[controller(1)]),
        QuorumStateData::default(),
    );
    l.tick(0);
    let end = l.log_mut().flush();
    l.on_flushed(end, 0);
    // Node 5 was formatted with no initial controllers: it knows no voter,
    // only a bootstrap server (-2, which is node 1's address).
    let mut c = cfg(5, &[]);
    c.bootstrap_servers = vec![-2];
    let mut o = RaftNode::new(c, MemLog::new(), QuorumStateData::default(), 0);
    assert!(o.voters().is_empty());
    let mut t = 1;
    let mut actions = Vec::new();
    for _ in 0..10 {
        t += 1000;
        actions.extend(o.tick(t));
        let Some((to, cid, request)) = sends_with_ids(&actions).into_iter().next() else {
            continue;
        };
        assert!(to == -2 || to == 1, "fetched from {to}");
        let answer = fetch_answer(&l.on_message(5, 0, request, t));
        actions = o.on_message(to, cid, Message::FetchResponse(answer), t);
        let end = o.log_mut().flush();
        actions.extend(o.on_flushed(end, t));
        if o.log().end_offset() >= 2 {
            break;
        }
    }
    assert_eq!(
        o.leader(),
        Some(1),
        "the bootstrap server's answer named the leader"
    );
    assert_eq!(voters_of(&o), vec![1]);
    assert_eq!(o.voter_details(), &[controller(1)]);
}

#[test]
fn voters_keep_their_details_and_are_removed_by_id_and_directory() {
    let mut l = committed_leader();
    l.on_message(9, 0, fetch(9, 1, 1, 1), 2);
    l.add_voter(controller(9), 3).unwrap();
    let end = l.log_mut().flush();
    l.on_flushed(end, 4);
    l.on_message(2, 0, fetch(2, 1, 2, 1), 5);
    l.on_message(9, 0, fetch(9, 1, 2, 1), 5);
    assert_eq!(l.high_watermark(), 2);
    let mut expected = ids_only(&[1, 2, 3]);
    expected.push(controller(9));
    assert_eq!(l.voter_details(), &expected[..]);
    // A replica with another directory (a wiped disk) is not the voter.
    assert_eq!(
        l.remove_voter(9, [0; 16], 6).unwrap_err(),
        VoterChangeError::VoterNotFound
    );
    l.remove_voter(9, controller(9).directory_id, 6).unwrap();
    assert_eq!(voters_of(&l), vec![1, 2, 3]);
}

#[test]
fn a_voter_whose_disk_was_replaced_is_not_that_voter() {
    // Voters 1, 2 and 3 with directories 1, 2, 3 from a bootstrap checkpoint.
    let voters = [controller(1), controller(2), controller(3)];
    let mut c = cfg(1, &[]);
    c.directory_id = [1; 16];
    let mut l = RaftNode::new(c, bootstrapped_log(&voters), QuorumStateData::default(), 0);
    let t = l.next_deadline();
    l.tick(t);
    l.on_message(2, 0, granted(true, 0), t);
    l.on_message(2, 0, granted(false, 1), t);
    assert!(l.is_leader());
    let end = l.log_mut().flush();
    l.on_flushed(end, t);

    // Node 2 comes back from a new, empty disk: directory 22.
    let mut c = cfg(2, &[]);
    c.directory_id = [22; 16];
    let mut wiped = RaftNode::new(c, bootstrapped_log(&voters), QuorumStateData::default(), 0);
    assert_eq!(voters_of(&wiped), vec![1, 2, 3]);
    // It does not stand ...
    for now in [10_000, 20_000, 30_000] {
        wiped.tick(now);
        assert!(
            !matches!(wiped.role(), RoleKind::Prospective | RoleKind::Candidate),
            "a replaced disk stood for election"
        );
    }
    // ... refuses to vote in voter 2's place, even asked without a directory ...
    let mut ask = vote_request(3, 2, 5, 0, 0, false);
    let answer = vote_answer(&wiped.on_message(3, 0, ask.clone(), 40_000));
    assert!(!answer.vote_granted);
    assert_eq!(answer.partition_error_code, ErrorCode::INVALID_VOTER_KEY);
    // ... and an intact voter refuses a request for another directory.
    let mut c = cfg(3, &[]);
    c.directory_id = [3; 16];
    let mut three = RaftNode::new(c, bootstrapped_log(&voters), QuorumStateData::default(), 0);
    if let Message::VoteRequest(r) = &mut ask {
        r.voter_id = 3;
        r.voter_directory_id = [33; 16];
    }
    let answer = vote_answer(&three.on_message(1, 0, ask, 0));
    assert_eq!(answer.partition_error_code, ErrorCode::INVALID_VOTER_KEY);

    // The leader does not count its fetches as voter 2's: with node 3
    // silent, nothing new commits.
    let hw = l.high_watermark();
    let (last, _, actions) = l.propose(Bytes::from_static(b"x"), 1, t + 1).unwrap();
    drop(actions);
    let end = l.log_mut().flush();
    l.on_flushed(end, t + 1);
    let answer =
        fetch_answer(&l.on_message(2, 0, fetch_with_dir(2, [22; 16], 1, last + 1, 1), t + 2));
    assert_eq!(answer.partition_error_code, ErrorCode::INVALID_VOTER_KEY);
    assert_eq!(l.high_watermark(), hw);
    // Voter 2 with its own directory does count.
    l.on_message(2, 0, fetch_with_dir(2, [2; 16], 1, last + 1, 1), t + 3);
    assert_eq!(l.high_watermark(), last + 1);
}

#[test]
fn a_voter_updates_its_endpoints_and_keeps_its_place() {
    let mut l = committed_leader();
    l.on_message(9, 0, fetch(9, 1, 1, 1), 2);
    l.add_voter(controller(9), 3).unwrap();
    let end = l.log_mut().flush();
    l.on_flushed(end, 4);
    l.on_message(2, 0, fetch(2, 1, 2, 1), 5);
    l.on_message(9, 0, fetch(9, 1, 2, 1), 5);
    assert_eq!(l.high_watermark(), 2);
    let mut moved = controller(9);
    moved.endpoints[0].host = "c9-new".into();
    // Another directory is another replica.
    let mut stranger = moved.clone();
    stranger.directory_id = [0x99; 16];
    assert_eq!(
        l.update_voter(stranger, 6).unwrap_err(),
        VoterChangeError::VoterNotFound
    );
    let (offset, _) = l.update_voter(moved.clone(), 6).unwrap();
    assert_eq!(offset, 2);
    assert_eq!(voters_of(&l), vec![1, 2, 3, 9], "the same voters");
    assert_eq!(l.voter_details().last(), Some(&moved));
    // One change at a time, as for additions and removals.
    assert_eq!(
        l.update_voter(moved, 7).unwrap_err(),
        VoterChangeError::ChangeInProgress
    );
}

#[test]
fn a_voter_is_added_only_under_the_directory_its_fetches_carry() {
    let mut l = committed_leader();
    l.on_message(9, 0, fetch_with_dir(9, [9; 16], 1, 1, 1), 2);
    let mut wrong = controller(9);
    wrong.directory_id = [8; 16];
    assert_eq!(
        l.add_voter(wrong, 3).unwrap_err(),
        VoterChangeError::WrongDirectory
    );
    assert_eq!(
        VoterChangeError::WrongDirectory.error_code(),
        ErrorCode::INVALID_VOTER_KEY
    );
    // Named without one, it gets the one its fetches carry.
    l.add_voter(Voter::id_only(9), 3).unwrap();
    assert_eq!(l.voter_details().last().unwrap().directory_id, [9; 16]);
    let end = l.log_mut().flush();
    l.on_flushed(end, 4);
    l.on_message(2, 0, fetch(2, 1, 2, 1), 5);
    l.on_message(9, 0, fetch_with_dir(9, [9; 16], 1, 2, 1), 5);
    assert_eq!(l.high_watermark(), 2);
    // Removed, then back on a new disk: what the old copy had fetched is
    // not the new one's progress, so it is not caught up.
    l.remove_voter(9, [9; 16], 6).unwrap();
    let end = l.log_mut().flush();
    l.on_flushed(end, 7);
    l.on_message(2, 0, fetch(2, 1, 3, 1), 8);
    assert_eq!(l.high_watermark(), 3);
    l.on_message(9, 0, fetch_with_dir(9, [10; 16], 1, 0, 0), 9);
    let mut fresh = controller(9);
    fresh.directory_id = [10; 16];
    assert_eq!(
        l.add_voter(fresh, 10).unwrap_err(),
        VoterChangeError::NotCaughtUp
    );
}
