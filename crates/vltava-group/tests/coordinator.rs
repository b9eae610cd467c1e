//! The coordinator driven with a simulated clock: joins, rebalances,
//! session and rebalance timeouts, static membership, offsets, replay.

use bytes::Bytes;
use vltava_group::*;
use vltava_protocol::ErrorCode;

struct Harness {
    c: GroupCoordinator,
    now: i64,
    next_reply: ReplyId,
    /// Every record the coordinator asked to append, in order.
    log: Vec<(i32, Bytes, Option<Bytes>)>,
    replies: Vec<(ReplyId, Reply)>,
}

const SESSION: i32 = 10_000;
const REBALANCE: i32 = 30_000;

impl Harness {
    fn new(initial_delay: i32) -> Harness {
        let config = CoordinatorConfig {
            partitions: 4,
            initial_rebalance_delay_ms: initial_delay,
            ..CoordinatorConfig::default()
        };
        let mut c = GroupCoordinator::new(config, 7);
        for p in 0..4 {
            c.load_partition(p, Vec::new(), 0, &OneTopic);
        }
        Harness {
            c,
            now: 1_000_000,
            next_reply: 1,
            log: Vec::new(),
            replies: Vec::new(),
        }
    }

    /// Takes a call's effects as a driver whose writes all replicate.
    fn absorb(&mut self, e: Effects) {
        self.log.extend(e.records);
        self.replies.extend(e.replies);
        if let Some(w) = e.offset_write {
            self.c.offsets_written(w, true);
        }
    }

    fn take_reply(&mut self, id: ReplyId) -> Option<Reply> {
        let i = self.replies.iter().position(|(r, _)| *r == id)?;
        Some(self.replies.remove(i).1)
    }

    fn join_request(
        member_id: &str,
        instance: Option<&str>,
        protocols: &[(&str, &str)],
    ) -> JoinRequest {
        JoinRequest {
            group_id: "g".into(),
            member_id: member_id.into(),
            instance_id: instance.map(String::from),
            client_id: "client".into(),
            client_host: "/127.0.0.1".into(),
            session_timeout_ms: SESSION,
            rebalance_timeout_ms: REBALANCE,
            protocol_type: "consumer".into(),
            protocols: protocols
                .iter()
                .map(|(n, m)| (n.to_string(), Bytes::from(m.to_string())))
                .collect(),
            require_known_member_id: true,
            supports_skip_assignment: false,
        }
    }

    /// Sends a JoinGroup; returns its reply id.
    fn join(&mut self, request: JoinRequest) -> ReplyId {
        let id = self.next_reply;
        self.next_reply += 1;
        let e = self.c.join(self.now, request, id);
        self.absorb(e);
        id
    }

    fn join_result(&mut self, id: ReplyId) -> Option<JoinResult> {
        match self.take_reply(id)? {
            Reply::Join(r) => Some(r),
            other => panic!("expected a join reply, got {other:?}"),
        }
    }

    /// A first join through MEMBER_ID_REQUIRED; returns the member id and the
    /// reply id of the second (real) join.
    fn join_new(&mut self, protocols: &[(&str, &str)]) -> (String, ReplyId) {
        let first = self.join(Self::join_request("", None, protocols));
        let r = self
            .join_result(first)
            .expect("immediate MEMBER_ID_REQUIRED");
        assert_eq!(r.error, ErrorCode::MEMBER_ID_REQUIRED);
        assert!(r.member_id.starts_with("client-"));
        let second = self.join(Self::join_request(&r.member_id, None, protocols));
        (r.member_id, second)
    }

    fn sync(&mut self, member: &str, generation: i32, assignments: &[(&str, &str)]) -> ReplyId {
        let id = self.next_reply;
        self.next_reply += 1;
        let request = SyncRequest {
            group_id: "g".into(),
            generation_id: generation,
            member_id: member.into(),
            assignments: assignments
                .iter()
                .map(|(m, a)| (m.to_string(), Bytes::from(a.to_string())))
                .collect(),
            ..Default::default()
        };
        let e = self.c.sync(self.now, request, id);
        self.absorb(e);
        id
    }

    fn sync_result(&mut self, id: ReplyId) -> Option<SyncResult> {
        match self.take_reply(id)? {
            Reply::Sync(r) => Some(r),
            other => panic!("expected a sync reply, got {other:?}"),
        }
    }

    fn advance(&mut self, ms: i64) {
        self.now += ms;
        let e = self.c.tick(self.now);
        self.absorb(e);
    }

    fn heartbeat(&mut self, member: &str, generation: i32) -> ErrorCode {
        self.c.heartbeat(self.now, "g", generation, member, None)
    }

    /// Makes the static member `instance` whose join is pending as `join`
    /// leave by its instance id.
    fn absorb_join_then_leave(&mut self, join: ReplyId, instance: &str) {
        assert!(self.take_reply(join).is_none(), "the join is pending");
        let (_, errors, e) = self
            .c
            .leave(self.now, "g", &[(String::new(), Some(instance.into()))]);
        self.absorb(e);
        assert_eq!(errors, vec![ErrorCode::NONE]);
        match self.take_reply(join) {
            Some(Reply::Join(r)) => assert_eq!(r.error, ErrorCode::UNKNOWN_MEMBER_ID),
            other => panic!("expected the pending join to fail, got {other:?}"),
        }
    }

    fn state(&self) -> &'static str {
        self.c.describe_group("g").unwrap().state
    }
}

const RANGE: &[(&str, &str)] = &[("range", "sub-a")];

#[test]
fn two_members_form_a_group_and_get_assignments() {
    let mut h = Harness::new(0);
    let (a, join_a) = h.join_new(RANGE);
    let ra = h
        .join_result(join_a)
        .expect("a lone member completes the join at once");
    assert_eq!(
        (ra.error, ra.generation_id, ra.leader.as_str()),
        (ErrorCode::NONE, 1, a.as_str())
    );
    assert_eq!(ra.protocol_name.as_deref(), Some("range"));
    let s = h.sync(&a, 1, &[(&a, "p0-p3")]);
    assert_eq!(h.sync_result(s).unwrap().assignment, Bytes::from("p0-p3"));
    assert_eq!(h.state(), "Stable");

    // B joins: A learns of the rebalance through its heartbeat and rejoins.
    let (b, join_b) = h.join_new(RANGE);
    assert!(h.join_result(join_b).is_none(), "B waits for A to rejoin");
    assert_eq!(h.state(), "PreparingRebalance");
    assert_eq!(h.heartbeat(&a, 1), ErrorCode::REBALANCE_IN_PROGRESS);
    let rejoin_a = h.join(Harness::join_request(&a, None, RANGE));
    let ra = h.join_result(rejoin_a).unwrap();
    let rb = h.join_result(join_b).unwrap();
    assert_eq!((ra.generation_id, rb.generation_id), (2, 2));
    assert_eq!(ra.leader, a);
    assert_eq!(
        ra.members.len(),
        2,
        "the leader gets every member's metadata"
    );
    assert!(rb.members.is_empty(), "followers do not");
    // B syncs first and waits for the leader's assignment.
    let sb = h.sync(&b, 2, &[]);
    assert!(h.sync_result(sb).is_none());
    let sa = h.sync(&a, 2, &[(&a, "p0-p1"), (&b, "p2-p3")]);
    assert_eq!(h.sync_result(sa).unwrap().assignment, Bytes::from("p0-p1"));
    assert_eq!(h.sync_result(sb).unwrap().assignment, Bytes::from("p2-p3"));
    assert_eq!(h.heartbeat(&b, 2), ErrorCode::NONE);
    assert_eq!(h.heartbeat(&b, 1), ErrorCode::ILLEGAL_GENERATION);
    assert_eq!(h.heartbeat("nobody", 2), ErrorCode::UNKNOWN_MEMBER_ID);
}

fn stable_pair(h: &mut Harness) -> (String, String) {
    let (a, ja) = h.join_new(RANGE);
    h.join_result(ja).unwrap();
    let s = h.sync(&a, 1, &[]);
    h.sync_result(s).unwrap();
    let (b, jb) = h.join_new(RANGE);
    let ra = h.join(Harness::join_request(&a, None, RANGE));
    h.join_result(ra).unwrap();
    h.join_result(jb).unwrap();
    let sa = h.sync(&a, 2, &[(&a, "A"), (&b, "B")]);
    let sb = h.sync(&b, 2, &[]);
    h.sync_result(sa).unwrap();
    h.sync_result(sb).unwrap();
    (a, b)
}

#[test]
fn a_member_that_stops_heartbeating_is_removed_after_its_session_timeout() {
    let mut h = Harness::new(0);
    let (a, b) = stable_pair(&mut h);
    // A keeps heartbeating; B goes silent.
    for _ in 0..3 {
        h.advance(3_000);
        assert_eq!(h.heartbeat(&a, 2), ErrorCode::NONE);
    }
    assert_eq!(
        h.state(),
        "Stable",
        "9 s of silence is within B's 10 s session"
    );
    h.advance(3_000);
    // 12 s later B's 10 s session has expired: it is gone, A must rejoin.
    assert_eq!(h.heartbeat(&b, 2), ErrorCode::UNKNOWN_MEMBER_ID);
    assert_eq!(h.heartbeat(&a, 2), ErrorCode::REBALANCE_IN_PROGRESS);
    let ja = h.join(Harness::join_request(&a, None, RANGE));
    let r = h.join_result(ja).unwrap();
    assert_eq!((r.generation_id, r.members.len()), (3, 1));
}

#[test]
fn a_member_that_does_not_rejoin_is_dropped_at_the_rebalance_timeout() {
    let mut h = Harness::new(0);
    let (a, b) = stable_pair(&mut h);
    // A leaves: the group rebalances at once; B must rejoin.
    let (err, per_member, e) = h.c.leave(h.now, "g", &[(a.clone(), None)]);
    h.absorb(e);
    assert_eq!((err, per_member), (ErrorCode::NONE, vec![ErrorCode::NONE]));
    assert_eq!(h.state(), "PreparingRebalance");
    // B keeps heartbeating but never rejoins: dropped when the rebalance times out.
    let mut waited = 0;
    while waited < REBALANCE as i64 {
        h.advance(2_000);
        waited += 2_000;
        let _ = h.heartbeat(&b, 2);
    }
    h.advance(1);
    assert_eq!(h.state(), "Empty");
    assert_eq!(h.heartbeat(&b, 2), ErrorCode::UNKNOWN_MEMBER_ID);
}

#[test]
fn initial_rebalance_delay_gathers_members_into_one_generation() {
    let mut h = Harness::new(3_000);
    let (_a, ja) = h.join_new(RANGE);
    h.advance(1_000);
    assert!(
        h.join_result(ja).is_none(),
        "still inside the initial delay"
    );
    let (_b, jb) = h.join_new(RANGE);
    h.advance(2_500);
    assert!(
        h.join_result(ja).is_none(),
        "B's arrival extended the delay"
    );
    h.advance(600);
    let (ra, rb) = (h.join_result(ja).unwrap(), h.join_result(jb).unwrap());
    assert_eq!((ra.generation_id, rb.generation_id), (1, 1));
    assert_eq!(ra.members.len().max(rb.members.len()), 2);
}

#[test]
fn static_member_restart_keeps_its_assignment_without_a_rebalance() {
    let mut h = Harness::new(0);
    let j = h.join(Harness::join_request("", Some("instance-1"), RANGE));
    let r = h
        .join_result(j)
        .expect("static members skip MEMBER_ID_REQUIRED");
    let old = r.member_id.clone();
    let s = h.sync(&old, 1, &[(&old, "mine")]);
    h.sync_result(s).unwrap();
    // Restart: same instance id, no member id.
    let j = h.join(Harness::join_request("", Some("instance-1"), RANGE));
    let r = h.join_result(j).unwrap();
    assert_eq!(r.error, ErrorCode::NONE);
    assert_eq!(r.generation_id, 1, "no new generation");
    assert_ne!(r.member_id, old);
    assert_eq!(h.state(), "Stable");
    let s = h.sync(&r.member_id, 1, &[]);
    assert_eq!(h.sync_result(s).unwrap().assignment, Bytes::from("mine"));
    // The old incarnation is fenced.
    assert_eq!(
        h.c.heartbeat(h.now, "g", 1, &old, Some("instance-1")),
        ErrorCode::FENCED_INSTANCE_ID
    );
    // A known member naming an instance the group does not have is an
    // unknown member, as in Kafka.
    assert_eq!(
        h.c.heartbeat(h.now, "g", 1, &r.member_id, Some("instance-2")),
        ErrorCode::UNKNOWN_MEMBER_ID
    );
}

/// Two static members, "a" (the leader) and "b", stable in generation 2
/// with assignments "A" and "B". Returns their member ids.
fn stable_static_pair(h: &mut Harness) -> (String, String) {
    let ja = h.join(Harness::join_request("", Some("a"), RANGE));
    let a = h.join_result(ja).unwrap().member_id;
    let s = h.sync(&a, 1, &[(&a, "A")]);
    h.sync_result(s).unwrap();
    let jb = h.join(Harness::join_request("", Some("b"), RANGE));
    let ja = h.join(Harness::join_request(&a, Some("a"), RANGE));
    let ra = h.join_result(ja).unwrap();
    let b = h.join_result(jb).unwrap().member_id;
    assert_eq!((ra.generation_id, ra.leader.as_str()), (2, a.as_str()));
    let sa = h.sync(&a, 2, &[(&a, "A"), (&b, "B")]);
    let sb = h.sync(&b, 2, &[]);
    h.sync_result(sa).unwrap();
    h.sync_result(sb).unwrap();
    (a, b)
}

#[test]
fn a_restarted_static_leader_is_told_the_previous_leader_before_join_group_v9() {
    // Kafka (updateStaticMemberAndRebalance): without SkipAssignment the
    // answer names the leader as it was before the replacement, so the
    // restarted leader acts as a follower and syncs for its old assignment
    // instead of running the assignor over an empty member list.
    let mut h = Harness::new(0);
    let (a, b) = stable_static_pair(&mut h);
    let j = h.join(Harness::join_request("", Some("a"), RANGE));
    let r = h.join_result(j).unwrap();
    assert_eq!((r.error, r.generation_id), (ErrorCode::NONE, 2));
    assert_ne!(r.member_id, a);
    assert_eq!(r.leader, a, "the previous leader id, not the new one");
    assert!(!r.skip_assignment && r.members.is_empty());
    let s = h.sync(&r.member_id, 2, &[]);
    assert_eq!(h.sync_result(s).unwrap().assignment, Bytes::from("A"));
    assert_eq!(h.state(), "Stable");
    assert_eq!(h.heartbeat(&b, 2), ErrorCode::NONE);
    let a2 = r.member_id;

    // A restarted follower is told the current leader.
    let j = h.join(Harness::join_request("", Some("b"), RANGE));
    let r = h.join_result(j).unwrap();
    assert_eq!((r.generation_id, r.leader.as_str()), (2, a2.as_str()));

    // JoinGroup v9+ (KIP-814): the leader learns it leads, with the members,
    // and is told to skip the assignment.
    let mut v9 = Harness::join_request("", Some("a"), RANGE);
    v9.supports_skip_assignment = true;
    let j = h.join(v9);
    let r = h.join_result(j).unwrap();
    assert_eq!(
        (r.generation_id, r.leader.as_str()),
        (2, r.member_id.as_str())
    );
    assert!(r.skip_assignment);
    assert_eq!(r.members.len(), 2);
    assert_eq!(h.state(), "Stable");
}

#[test]
fn a_restarted_static_member_with_new_metadata_rebalances_only_if_the_protocol_changes() {
    // Kafka compares the protocol the group would select, not the bytes: a
    // cooperative-sticky member lists the partitions it owns in its
    // subscription, and a restarted one owns none yet.
    let mut h = Harness::new(0);
    let (_a, b) = stable_static_pair(&mut h);
    let log_len = h.log.len();
    let j = h.join(Harness::join_request(
        "",
        Some("b"),
        &[("range", "sub-a, owns nothing")],
    ));
    let r = h.join_result(j).unwrap();
    assert_eq!((r.error, r.generation_id), (ErrorCode::NONE, 2));
    assert_ne!(r.member_id, b);
    assert_eq!(h.state(), "Stable");
    assert_eq!(h.log.len(), log_len + 1, "the new member id is stored");
    let s = h.sync(&r.member_id, 2, &[]);
    assert_eq!(h.sync_result(s).unwrap().assignment, Bytes::from("B"));

    // A change of preference that changes the selected protocol rebalances.
    let mut h = Harness::new(0);
    let both = &[("range", "r"), ("roundrobin", "rr")];
    let j = h.join(Harness::join_request("", Some("solo"), both));
    let r = h.join_result(j).unwrap();
    assert_eq!(r.protocol_name.as_deref(), Some("range"));
    let s = h.sync(&r.member_id, 1, &[(&r.member_id, "all")]);
    h.sync_result(s).unwrap();
    let j = h.join(Harness::join_request(
        "",
        Some("solo"),
        &[("roundrobin", "rr"), ("range", "r")],
    ));
    let r = h.join_result(j).unwrap();
    assert_eq!(r.generation_id, 2, "a new generation");
    assert_eq!(r.protocol_name.as_deref(), Some("roundrobin"));
}

#[test]
fn a_join_phase_left_with_only_absent_static_members_waits_for_them() {
    // Kafka's onCompleteJoin: when nobody rejoined but static members remain,
    // the group is not emptied; the join phase goes on until they rejoin or
    // their sessions expire.
    let mut h = Harness::new(0);
    let mut a = Harness::join_request("", Some("a"), RANGE);
    a.session_timeout_ms = 30_000;
    a.rebalance_timeout_ms = 5_000;
    let ja = h.join(a.clone());
    let a_id = h.join_result(ja).unwrap().member_id;
    let s = h.sync(&a_id, 1, &[(&a_id, "A")]);
    h.sync_result(s).unwrap();
    // Another member comes and goes; the first does not rejoin in time.
    let mut b = Harness::join_request("", Some("b"), RANGE);
    b.rebalance_timeout_ms = 5_000;
    let jb = h.join(b.clone());
    h.absorb_join_then_leave(jb, "b");
    h.advance(5_001);
    let d = h.c.describe_group("g").unwrap();
    assert_eq!((d.state, d.members.len()), ("PreparingRebalance", 1));
    // The static member comes back (restarted) and the group goes on.
    let ja = h.join(a.clone());
    let r = h.join_result(ja).unwrap();
    assert_eq!((r.error, r.generation_id), (ErrorCode::NONE, 2));
    assert_eq!(r.leader, r.member_id);
    assert_eq!(h.state(), "CompletingRebalance");

    // Had it not come back, its session expiry would have emptied the group.
    let mut h = Harness::new(0);
    let ja = h.join(a.clone());
    let a_id = h.join_result(ja).unwrap().member_id;
    let s = h.sync(&a_id, 1, &[(&a_id, "A")]);
    h.sync_result(s).unwrap();
    let jb = h.join(b);
    h.absorb_join_then_leave(jb, "b");
    for _ in 0..5 {
        h.advance(5_001);
        assert_eq!(h.state(), "PreparingRebalance");
    }
    h.advance(5_001);
    let d = h.c.describe_group("g").unwrap();
    assert_eq!((d.state, d.members.len()), ("Empty", 0));
}

#[test]
fn protocol_selection_and_inconsistent_protocols() {
    let mut h = Harness::new(0);
    let (a, ja) = h.join_new(&[("roundrobin", "x"), ("range", "y")]);
    h.join_result(ja).unwrap();
    let s = h.sync(&a, 1, &[]);
    h.sync_result(s).unwrap();
    let (_b, jb) = h.join_new(&[("range", "z"), ("roundrobin", "w")]);
    let (_c, jc) = h.join_new(&[("range", "q")]);
    let ra = h.join(Harness::join_request(
        &a,
        None,
        &[("roundrobin", "x"), ("range", "y")],
    ));
    let r = h.join_result(ra).unwrap();
    assert_eq!(
        r.protocol_name.as_deref(),
        Some("range"),
        "only range is common to all"
    );
    h.join_result(jb).unwrap();
    h.join_result(jc).unwrap();
    let bad = h.join(Harness::join_request("", None, &[("sticky", "s")]));
    assert_eq!(
        h.join_result(bad).unwrap().error,
        ErrorCode::INCONSISTENT_GROUP_PROTOCOL
    );
    let mut wrong_timeout = Harness::join_request("", None, RANGE);
    wrong_timeout.session_timeout_ms = 10;
    let j = h.join(wrong_timeout);
    assert_eq!(
        h.join_result(j).unwrap().error,
        ErrorCode::INVALID_SESSION_TIMEOUT
    );
}

#[test]
fn offsets_commit_fetch_validate_and_survive_replay() {
    let mut h = Harness::new(0);
    let exists = |t: &str, p: i32| t == "t" && (0..3).contains(&p);
    let offsets = |o: i64| {
        vec![
            OffsetToCommit {
                topic: "t".into(),
                partition: 0,
                offset: o,
                leader_epoch: 1,
                metadata: Some("meta".into()),
            },
            OffsetToCommit {
                topic: "t".into(),
                partition: 9,
                offset: o,
                leader_epoch: 1,
                metadata: None,
            },
            OffsetToCommit {
                topic: "t".into(),
                partition: 1,
                offset: o,
                leader_epoch: 1,
                metadata: Some("x".repeat(5000)),
            },
        ]
    };
    // A simple consumer (assign(), generation -1) commits into an empty group.
    let (errors, e) =
        h.c.commit_offsets(h.now, "g", -1, "", None, &offsets(5), &exists);
    h.absorb(e);
    assert_eq!(
        errors,
        vec![
            ErrorCode::NONE,
            ErrorCode::UNKNOWN_TOPIC_OR_PARTITION,
            ErrorCode::OFFSET_METADATA_TOO_LARGE
        ]
    );
    // Once the group has members, commits must carry a member and generation.
    let (a, ja) = h.join_new(RANGE);
    h.join_result(ja).unwrap();
    let (errors, _) =
        h.c.commit_offsets(h.now, "g", -1, "", None, &offsets(6), &exists);
    assert_eq!(errors[0], ErrorCode::UNKNOWN_MEMBER_ID);
    let (errors, _) =
        h.c.commit_offsets(h.now, "g", 7, &a, None, &offsets(6), &exists);
    assert_eq!(errors[0], ErrorCode::ILLEGAL_GENERATION);
    let (errors, _) =
        h.c.commit_offsets(h.now, "g", 1, &a, None, &offsets(6), &exists);
    assert_eq!(
        errors[0],
        ErrorCode::REBALANCE_IN_PROGRESS,
        "no commits between join and sync"
    );
    let s = h.sync(&a, 1, &[]);
    h.sync_result(s).unwrap();
    let (errors, e) =
        h.c.commit_offsets(h.now, "g", 1, &a, None, &offsets(42), &exists);
    h.absorb(e);
    assert_eq!(errors[0], ErrorCode::NONE);

    let fetched =
        h.c.fetch_offsets("g", Some(&[("t".into(), vec![0, 2])]))
            .unwrap();
    assert_eq!(
        (fetched[0].offset, fetched[0].metadata.as_deref()),
        (42, Some("meta"))
    );
    assert_eq!(
        (fetched[1].offset, fetched[1].error),
        (-1, ErrorCode::NONE),
        "uncommitted: -1, no error"
    );
    let unknown = h.c.fetch_offsets("nope", None).unwrap();
    assert!(unknown.is_empty());

    // Replaying what was appended rebuilds offsets and the group.
    let mut fresh = GroupCoordinator::new(
        CoordinatorConfig {
            partitions: 4,
            ..CoordinatorConfig::default()
        },
        8,
    );
    assert!(fresh.fetch_offsets("g", None).is_err(), "not loaded yet");
    for p in 0..4 {
        let records: Vec<_> = h
            .log
            .iter()
            .filter(|(q, _, _)| *q == p)
            .map(|(_, k, v)| (Some(k.clone()), v.clone()))
            .collect();
        assert!(fresh
            .load_partition(p, records, h.now, &OneTopic)
            .is_empty());
    }
    let all = fresh.fetch_offsets("g", None).unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].offset, 42);
    let d = fresh.describe_group("g").unwrap();
    assert_eq!((d.state, d.members.len()), ("Stable", 1));
    assert_eq!(
        fresh.heartbeat(h.now, "g", 1, &a, None),
        ErrorCode::NONE,
        "the member carries on after a coordinator restart"
    );
}

#[test]
fn delete_group_only_when_empty_and_offsets_expire() {
    let mut h = Harness::new(0);
    let (a, ja) = h.join_new(RANGE);
    h.join_result(ja).unwrap();
    assert_eq!(h.c.delete_group(h.now, "g").0, ErrorCode::NON_EMPTY_GROUP);
    // As Kafka 4: the empty id names no group.
    assert_eq!(h.c.delete_group(h.now, "").0, ErrorCode::GROUP_ID_NOT_FOUND);
    let (_, _, e) = h.c.leave(h.now, "g", &[(a.clone(), None)]);
    h.absorb(e);
    assert_eq!(h.state(), "Empty");
    let exists = |_: &str, _: i32| true;
    let (_, e) = h.c.commit_offsets(
        h.now,
        "g",
        -1,
        "",
        None,
        &[OffsetToCommit {
            topic: "t".into(),
            partition: 0,
            offset: 1,
            leader_epoch: -1,
            metadata: None,
        }],
        &exists,
    );
    h.absorb(e);
    // Offsets of an empty group expire after offsets.retention.
    h.advance(CoordinatorConfig::default().offsets_retention_ms + 1);
    assert_eq!(h.c.fetch_offsets("g", None).unwrap().len(), 0);
    assert!(
        h.log.iter().any(|(_, _, v)| v.is_none()),
        "a tombstone was written"
    );
    assert_eq!(
        h.c.delete_group(h.now, "g").0,
        ErrorCode::GROUP_ID_NOT_FOUND
    );
}

#[test]
fn coordinator_load_in_progress_until_partition_loaded() {
    let mut c = GroupCoordinator::new(
        CoordinatorConfig {
            partitions: 4,
            ..CoordinatorConfig::default()
        },
        1,
    );
    assert_eq!(
        c.heartbeat(0, "g", 1, "m", None),
        ErrorCode::COORDINATOR_LOAD_IN_PROGRESS
    );
    assert_eq!(
        c.heartbeat(0, "", 1, "m", None),
        ErrorCode::INVALID_GROUP_ID
    );
}

#[test]
fn an_emptied_group_keeps_its_protocol_type() {
    let mut h = Harness::new(0);
    let (a, ja) = h.join_new(RANGE);
    h.join_result(ja).unwrap();
    let (_, _, e) = h.c.leave(h.now, "g", &[(a, None)]);
    h.absorb(e);
    let d = h.c.describe_group("g").unwrap();
    assert_eq!((d.state, d.protocol_type.as_str()), ("Empty", "consumer"));
    assert_eq!(
        h.c.list_groups(),
        vec![("g".to_string(), "consumer".to_string(), "Empty")]
    );
}

/// Whether `s` is 8-4-4-4-12 lowercase hex digits, a UUID's text form.
fn is_uuid_text(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.iter().map(|p| p.len()).eq([8, 4, 4, 4, 12])
        && parts
            .iter()
            .all(|p| p.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
}

#[test]
fn member_ids_are_the_client_or_instance_id_then_a_uuid() {
    // Kafka (ClassicGroup.generateMemberId): clientId + "-" + UUID, or the
    // group instance id + "-" + UUID for a static member.
    let mut h = Harness::new(0);
    let (dynamic, jd) = h.join_new(RANGE);
    h.join_result(jd).unwrap();
    let suffix = dynamic.strip_prefix("client-").expect("client id first");
    assert!(is_uuid_text(suffix), "{dynamic}");
    let js = h.join(Harness::join_request("", Some("instance-1"), RANGE));
    let (_, _, e) = h.c.leave(h.now, "g", &[(dynamic.clone(), None)]);
    h.absorb(e);
    let stat = h.join_result(js).unwrap().member_id;
    let suffix = stat.strip_prefix("instance-1-").expect("instance id first");
    assert!(is_uuid_text(suffix), "{stat}");
    assert_ne!(&dynamic["client-".len()..], suffix, "ids are unique");
}

/// The committed offset of `g` for t-0, if any.
fn committed(c: &GroupCoordinator, group: &str) -> i64 {
    c.fetch_offsets(group, Some(&[("t".to_string(), vec![0])]))
        .unwrap()[0]
        .offset
}

#[test]
fn transactional_offsets_count_only_once_their_transaction_commits() {
    let mut h = Harness::new(0);
    let exists = |_: &str, p: i32| p == 0;
    let one = |offset: i64| {
        vec![OffsetToCommit {
            topic: "t".into(),
            partition: 0,
            offset,
            leader_epoch: -1,
            metadata: None,
        }]
    };
    let partition = h.c.partition_for("g");
    let (errors, e) =
        h.c.txn_commit_offsets(h.now, "g", 77, -1, "", None, &one(10), &exists);
    assert_eq!(errors, vec![ErrorCode::NONE]);
    assert_eq!(e.records.len(), 1);
    assert_eq!(e.records[0].0, partition);
    // Pending: not committed yet, and unstable for require_stable fetches.
    assert_eq!(committed(&h.c, "g"), -1);
    assert!(h.c.has_pending_txn_offset("g", "t", 0));
    // A marker on another partition decides nothing here.
    h.c.complete_transaction(h.now, 77, (partition + 1) % 4, true);
    assert!(h.c.has_pending_txn_offset("g", "t", 0));
    h.c.complete_transaction(h.now, 77, partition, true);
    assert_eq!(committed(&h.c, "g"), 10);
    assert!(!h.c.has_pending_txn_offset("g", "t", 0));

    // An aborted transaction's offsets vanish.
    h.c.txn_commit_offsets(h.now, "g", 78, -1, "", None, &one(20), &exists);
    h.c.complete_transaction(h.now, 78, partition, false);
    assert_eq!(committed(&h.c, "g"), 10);
    assert!(!h.c.has_pending_txn_offset("g", "t", 0));
}

#[test]
fn transactional_commits_with_group_metadata_are_fenced_like_commits() {
    let mut h = Harness::new(0);
    let exists = |_: &str, _: i32| true;
    let offsets = vec![OffsetToCommit {
        topic: "t".into(),
        partition: 0,
        offset: 5,
        leader_epoch: -1,
        metadata: None,
    }];
    let (a, ja) = h.join_new(RANGE);
    let generation = h.join_result(ja).unwrap().generation_id;
    let s = h.sync(&a, generation, &[]);
    h.sync_result(s).unwrap();
    let (errors, _) =
        h.c.txn_commit_offsets(h.now, "g", 1, generation + 1, &a, None, &offsets, &exists);
    assert_eq!(errors, vec![ErrorCode::ILLEGAL_GENERATION]);
    let (errors, _) =
        h.c.txn_commit_offsets(h.now, "g", 1, generation, "zombie", None, &offsets, &exists);
    assert_eq!(errors, vec![ErrorCode::UNKNOWN_MEMBER_ID]);
    let (errors, _) =
        h.c.txn_commit_offsets(h.now, "g", 1, generation, &a, None, &offsets, &exists);
    assert_eq!(errors, vec![ErrorCode::NONE]);
}

#[test]
fn open_transactional_offsets_are_pending_again_after_a_reload() {
    let mut h = Harness::new(0);
    let exists = |_: &str, _: i32| true;
    let offsets = vec![OffsetToCommit {
        topic: "t".into(),
        partition: 0,
        offset: 33,
        leader_epoch: -1,
        metadata: None,
    }];
    let (_, e) =
        h.c.txn_commit_offsets(h.now, "g", 9, -1, "", None, &offsets, &exists);
    let (partition, key, value) = e.records[0].clone();
    let mut reloaded = GroupCoordinator::new(h.c.config().clone(), 7);
    for p in 0..4 {
        reloaded.load_partition(p, Vec::new(), 0, &OneTopic);
    }
    reloaded
        .load_pending_txn_offset(9, Some(key), value)
        .unwrap();
    assert!(reloaded.has_pending_txn_offset("g", "t", 0));
    // The group had no other record: the commit creates it.
    reloaded.complete_transaction(h.now, 9, partition, true);
    assert_eq!(committed(&reloaded, "g"), 33);
}

/// The records the harness's coordinator appended to one partition, as a
/// load reads them back.
fn log_of(h: &Harness, partition: i32) -> Vec<(Option<Bytes>, Option<Bytes>)> {
    h.log
        .iter()
        .filter(|(p, _, _)| *p == partition)
        .map(|(_, k, v)| (Some(k.clone()), v.clone()))
        .collect()
}

fn commit_one(h: &mut Harness, group: &str, offset: i64) {
    let exists = |_: &str, _: i32| true;
    let (errors, e) = h.c.commit_offsets(
        h.now,
        group,
        -1,
        "",
        None,
        &[OffsetToCommit {
            topic: "t".into(),
            partition: 0,
            offset,
            leader_epoch: -1,
            metadata: None,
        }],
        &exists,
    );
    assert_eq!(errors, vec![ErrorCode::NONE]);
    h.absorb(e);
}

#[test]
fn an_unloaded_partition_is_forgotten_and_a_reload_gives_the_state_of_the_log() {
    let mut h = Harness::new(0);
    // "g" lives in partition 3 and "h" in partition 0 of 4.
    let (pg, ph) = (h.c.partition_for("g"), h.c.partition_for("h"));
    assert_ne!(pg, ph);
    let (a, ja) = h.join_new(RANGE);
    h.join_result(ja).unwrap();
    let s = h.sync(&a, 1, &[(&a, "all")]);
    h.sync_result(s).unwrap();
    let exists = |_: &str, _: i32| true;
    let (errors, e) = h.c.commit_offsets(
        h.now,
        "g",
        1,
        &a,
        None,
        &[OffsetToCommit {
            topic: "t".into(),
            partition: 0,
            offset: 10,
            leader_epoch: -1,
            metadata: None,
        }],
        &exists,
    );
    assert_eq!(errors, vec![ErrorCode::NONE]);
    h.absorb(e);
    commit_one(&mut h, "h", 20);

    let e = h.c.unload_partition(pg);
    assert!(e.records.is_empty() && e.replies.is_empty());
    assert!(!h.c.is_partition_loaded(pg));
    assert!(!h.c.is_loaded("g"));
    assert_eq!(
        h.c.fetch_offsets("g", None),
        Err(ErrorCode::COORDINATOR_LOAD_IN_PROGRESS)
    );
    assert_eq!(
        h.c.heartbeat(h.now, "g", 1, &a, None),
        ErrorCode::COORDINATOR_LOAD_IN_PROGRESS
    );
    assert!(
        h.c.describe_group("g").is_err(),
        "the group is gone with its partition"
    );
    assert_eq!(
        h.c.list_groups(),
        vec![("h".to_string(), String::new(), "Empty")],
        "only the groups of loaded partitions are listed"
    );
    assert_eq!(committed(&h.c, "h"), 20, "other partitions are untouched");
    assert!(
        h.c.next_deadline().is_none(),
        "no timers of the unloaded group"
    );

    // Meanwhile the partition's new leader (another coordinator replaying
    // the same log) moved the offset on and the member left.
    let mut other = GroupCoordinator::new(h.c.config().clone(), 9);
    assert!(other
        .load_partition(pg, log_of(&h, pg), h.now, &OneTopic)
        .is_empty());
    assert_eq!(committed(&other, "g"), 10);
    assert_eq!(other.describe_group("g").unwrap().state, "Stable");
    let (_, _, e) = other.leave(h.now, "g", &[(a.clone(), None)]);
    h.absorb(e);
    let (errors, e) = other.commit_offsets(
        h.now,
        "g",
        -1,
        "",
        None,
        &[OffsetToCommit {
            topic: "t".into(),
            partition: 0,
            offset: 15,
            leader_epoch: -1,
            metadata: None,
        }],
        &exists,
    );
    assert_eq!(errors, vec![ErrorCode::NONE]);
    h.absorb(e);

    // Loading again gives what the log says, not what this coordinator
    // knew when it let go.
    assert!(h
        .c
        .load_partition(pg, log_of(&h, pg), h.now, &OneTopic)
        .is_empty());
    assert!(h.c.is_partition_loaded(pg));
    assert_eq!(committed(&h.c, "g"), 15);
    let d = h.c.describe_group("g").unwrap();
    assert_eq!((d.state, d.members.len()), ("Empty", 0));
    assert_eq!(
        h.c.heartbeat(h.now, "g", 1, &a, None),
        ErrorCode::UNKNOWN_MEMBER_ID
    );
    assert_eq!(committed(&h.c, "h"), 20);
}

#[test]
fn members_waiting_for_a_join_or_sync_answer_get_not_coordinator_on_unload() {
    let mut h = Harness::new(0);
    let pg = h.c.partition_for("g");
    let (a, b) = stable_pair(&mut h);
    // C joins: the group rebalances; A rejoins and waits for B.
    let (c, join_c) = h.join_new(RANGE);
    let rejoin_a = h.join(Harness::join_request(&a, None, RANGE));
    assert!(h.join_result(join_c).is_none() && h.join_result(rejoin_a).is_none());

    let e = h.c.unload_partition(pg);
    assert!(e.records.is_empty(), "an unload writes nothing");
    h.absorb(e);
    let rc = h.join_result(join_c).expect("C is answered");
    assert_eq!(
        (rc.error, rc.member_id.as_str()),
        (ErrorCode::NOT_COORDINATOR, c.as_str())
    );
    let ra = h.join_result(rejoin_a).expect("A is answered");
    assert_eq!(
        (ra.error, ra.member_id.as_str()),
        (ErrorCode::NOT_COORDINATOR, a.as_str())
    );
    assert!(h.replies.is_empty(), "nothing else was answered");
    assert_eq!(h.heartbeat(&b, 2), ErrorCode::COORDINATOR_LOAD_IN_PROGRESS);

    // A follower waiting in SyncGroup for the leader's assignment.
    let mut h = Harness::new(0);
    let (a, ja) = h.join_new(RANGE);
    h.join_result(ja).unwrap();
    let s = h.sync(&a, 1, &[]);
    h.sync_result(s).unwrap();
    let (b, jb) = h.join_new(RANGE);
    let ra = h.join(Harness::join_request(&a, None, RANGE));
    h.join_result(ra).unwrap();
    h.join_result(jb).unwrap();
    let sb = h.sync(&b, 2, &[]);
    assert!(h.sync_result(sb).is_none(), "B waits for the leader");
    let e = h.c.unload_partition(pg);
    h.absorb(e);
    assert_eq!(
        h.sync_result(sb).expect("B is answered").error,
        ErrorCode::NOT_COORDINATOR
    );
    // The leader's late SyncGroup finds no loaded group.
    let sa = h.sync(&a, 2, &[(&a, "A"), (&b, "B")]);
    assert_eq!(
        h.sync_result(sa).unwrap().error,
        ErrorCode::COORDINATOR_LOAD_IN_PROGRESS
    );
}

#[test]
fn unloading_drops_the_pending_transactional_offsets_of_that_partition_only() {
    let mut h = Harness::new(0);
    let exists = |_: &str, _: i32| true;
    let one = vec![OffsetToCommit {
        topic: "t".into(),
        partition: 0,
        offset: 7,
        leader_epoch: -1,
        metadata: None,
    }];
    let (pg, ph) = (h.c.partition_for("g"), h.c.partition_for("h"));
    // Producer 5's transaction commits offsets for both groups.
    let (_, e) =
        h.c.txn_commit_offsets(h.now, "g", 5, -1, "", None, &one, &exists);
    h.absorb(e);
    let (_, e) =
        h.c.txn_commit_offsets(h.now, "h", 5, -1, "", None, &one, &exists);
    h.absorb(e);
    h.c.unload_partition(pg);
    assert!(!h.c.has_pending_txn_offset("g", "t", 0));
    assert!(h.c.has_pending_txn_offset("h", "t", 0));
    // A marker reaching the unloaded partition (written by its new leader)
    // decides nothing here.
    h.c.complete_transaction(h.now, 5, pg, true);
    assert!(!h.c.is_loaded("g"));
    h.c.complete_transaction(h.now, 5, ph, true);
    assert_eq!(committed(&h.c, "h"), 7);
}

/// Committed offsets are readable only once their records are replicated:
/// an OffsetFetch never shows an offset a coordinator failover could still
/// lose (the fault harness saw a group's committed offsets go backwards when
/// they were). A later write's replication makes every earlier one of the
/// same partition visible, in order; a failed write shows nothing; a
/// deletion is not undone by a commit that was in flight.
#[test]
fn committed_offsets_are_visible_only_once_replicated() {
    let mut h = Harness::new(0);
    let exists = |_: &str, _: i32| true;
    let one = |o: i64| {
        vec![OffsetToCommit {
            topic: "t".into(),
            partition: 0,
            offset: o,
            leader_epoch: 1,
            metadata: None,
        }]
    };
    let fetched = |h: &Harness| {
        h.c.fetch_offsets("g", Some(&[("t".into(), vec![0])]))
            .unwrap()[0]
            .offset
    };
    let commit = |h: &mut Harness, o: i64| {
        let (errors, e) =
            h.c.commit_offsets(h.now, "g", -1, "", None, &one(o), &exists);
        assert_eq!(errors, vec![ErrorCode::NONE]);
        h.log.extend(e.records);
        e.offset_write.expect("a commit to report on")
    };

    let w5 = commit(&mut h, 5);
    assert_eq!(fetched(&h), -1, "not replicated yet");
    let w6 = commit(&mut h, 6);
    // The later write replicated first: both are, in log order.
    h.c.offsets_written(w6, true);
    assert_eq!(fetched(&h), 6);
    // The earlier write's own report comes late and changes nothing.
    h.c.offsets_written(w5, true);
    assert_eq!(fetched(&h), 6);

    // A write that failed is never shown.
    let w7 = commit(&mut h, 7);
    h.c.offsets_written(w7, false);
    assert_eq!(fetched(&h), 6);

    // Deleted while a commit was in flight: the commit does not bring it back.
    let w8 = commit(&mut h, 8);
    let (group_error, errors, _) =
        h.c.delete_offsets("g", &[("t".into(), 0)], &|_: &Bytes, _: &str| false);
    assert_eq!(
        (group_error, errors),
        (ErrorCode::NONE, vec![ErrorCode::NONE])
    );
    h.c.offsets_written(w8, true);
    assert_eq!(fetched(&h), -1);

    // Unloading the partition forgets what was in flight there.
    let w9 = commit(&mut h, 9);
    let partition = vltava_group::records::partition_for_group("g", 4);
    let _ = h.c.unload_partition(partition);
    h.c.load_partition(partition, Vec::new(), h.now, &OneTopic);
    h.c.offsets_written(w9, true);
    assert_eq!(fetched(&h), -1);
}

// ---------------------------------------------------------------------
// Consumer groups of the new protocol (KIP-848) beside classic ones
// ---------------------------------------------------------------------

/// One topic, "t", of 2 partitions.
struct OneTopic;

impl consumer::Topics for OneTopic {
    fn lookup(&self, name: &str) -> Option<(vltava_protocol::Uuid, i32)> {
        (name == "t").then_some((vltava_protocol::Uuid([9; 16]), 2))
    }
    fn matching(&self, regex: &str) -> Result<Vec<String>, String> {
        Ok(if regex == "t" {
            vec!["t".into()]
        } else {
            Vec::new()
        })
    }
}

fn consumer_join(h: &mut Harness, group: &str) -> consumer::HeartbeatResult {
    let (result, e) = h.c.consumer_heartbeat(
        h.now,
        consumer::Heartbeat {
            group_id: group.into(),
            member_epoch: 0,
            rebalance_timeout_ms: REBALANCE,
            subscribed_topic_names: Some(vec!["t".into()]),
            owned: Some(Vec::new()),
            client_id: "client".into(),
            ..Default::default()
        },
        &OneTopic,
    );
    h.absorb(e);
    result
}

fn commit_as(h: &mut Harness, member: &str, epoch: i32) -> ErrorCode {
    let exists = |_: &str, _: i32| true;
    let (errors, e) = h.c.commit_offsets(
        h.now,
        "g",
        epoch,
        member,
        None,
        &[OffsetToCommit {
            topic: "t".into(),
            partition: 0,
            offset: 3,
            leader_epoch: -1,
            metadata: None,
        }],
        &exists,
    );
    h.absorb(e);
    errors[0]
}

#[test]
fn a_consumer_group_commits_with_member_epochs_and_keeps_classic_members_out() {
    let mut h = Harness::new(0);
    let joined = consumer_join(&mut h, "g");
    assert_eq!(joined.error, ErrorCode::NONE);
    let member = joined.member_id.clone().unwrap();
    assert!(member.starts_with("client-"), "{member}");
    assert_eq!(joined.member_epoch, 1);
    assert_eq!(joined.assignment.unwrap()[0].1, vec![0, 1]);

    // OffsetCommit's generation is the member epoch.
    assert_eq!(commit_as(&mut h, &member, 1), ErrorCode::NONE);
    // And OffsetFetch v9 names the member and its epoch, or neither.
    assert_eq!(h.c.check_offset_fetch("g", Some(&member), 1), Ok(()));
    assert_eq!(h.c.check_offset_fetch("g", None, -1), Ok(()));
    assert_eq!(
        h.c.check_offset_fetch("g", Some(&member), 0),
        Err(ErrorCode::STALE_MEMBER_EPOCH)
    );
    assert_eq!(
        h.c.check_offset_fetch("g", Some("stranger"), 1),
        Err(ErrorCode::UNKNOWN_MEMBER_ID)
    );
    assert_eq!(h.c.check_offset_fetch("classic", Some("x"), 3), Ok(()));
    assert_eq!(commit_as(&mut h, &member, 0), ErrorCode::STALE_MEMBER_EPOCH);
    assert_eq!(commit_as(&mut h, &member, 2), ErrorCode::STALE_MEMBER_EPOCH);
    assert_eq!(
        commit_as(&mut h, "stranger", 1),
        ErrorCode::UNKNOWN_MEMBER_ID
    );
    // A commit from outside the group (assign(), admin) while it has members.
    assert_eq!(commit_as(&mut h, "", -1), ErrorCode::UNKNOWN_MEMBER_ID);
    assert_eq!(committed(&h.c, "g"), 3);

    // Listed as a consumer group, not described as a classic one, not
    // deletable while it has members, closed to classic members.
    assert_eq!(
        h.c.list_groups(),
        vec![("g".to_string(), "consumer".to_string(), "Stable")]
    );
    assert!(h.c.is_consumer_group("g"));
    let described = h.c.describe_group("g").unwrap();
    assert_eq!((described.state, described.members.len()), ("Dead", 0));
    assert_eq!(h.c.delete_group(h.now, "g").0, ErrorCode::NON_EMPTY_GROUP);
    let js = h.join(Harness::join_request("", None, RANGE));
    assert_eq!(
        h.join_result(js).unwrap().error,
        ErrorCode::INCONSISTENT_GROUP_PROTOCOL
    );

    // A classic group with a member (joining) refuses heartbeats of the
    // new protocol.
    let mut classic = Harness::join_request("", None, RANGE);
    classic.group_id = "classic".into();
    let jc = h.join(classic);
    assert_eq!(
        h.join_result(jc).unwrap().error,
        ErrorCode::MEMBER_ID_REQUIRED
    );
    assert_eq!(
        consumer_join(&mut h, "classic").error,
        ErrorCode::GROUP_ID_NOT_FOUND
    );

    // Its offsets of a topic a member subscribes to stay.
    let (code, errors, _) =
        h.c.delete_offsets("g", &[("t".to_string(), 0)], &|_: &Bytes, _: &str| false);
    assert_eq!(
        (code, errors),
        (ErrorCode::NONE, vec![ErrorCode::GROUP_SUBSCRIBED_TO_TOPIC])
    );

    // A refused first heartbeat leaves no group behind.
    let mut bad = consumer::Heartbeat {
        group_id: "refused".into(),
        member_epoch: 0,
        rebalance_timeout_ms: REBALANCE,
        subscribed_topic_names: Some(vec!["t".into()]),
        server_assignor: Some("nosuch".into()),
        ..Default::default()
    };
    assert_eq!(
        h.c.consumer_heartbeat(h.now, bad.clone(), &OneTopic)
            .0
            .error,
        ErrorCode::UNSUPPORTED_ASSIGNOR
    );
    assert!(h.c.list_groups().iter().all(|(id, _, _)| id != "refused"));
    bad.group_id = "classic".into();
    h.c.consumer_heartbeat(h.now, bad, &OneTopic);
    assert!(!h.c.is_consumer_group("classic"));

    // The member's session ends: tick removes it and says so; the group
    // is empty, keeps its offsets, and takes classic members again.
    h.now += 45_000;
    let e = h.c.tick(h.now);
    assert_eq!(
        e.consumer_removals,
        vec![(
            "g".to_string(),
            consumer::Removal::SessionExpired(member.clone())
        )]
    );
    assert_eq!(
        h.c.list_groups()[1],
        ("g".to_string(), "consumer".to_string(), "Empty")
    );
    assert_eq!(committed(&h.c, "g"), 3);
    let js = h.join(Harness::join_request("", None, RANGE));
    assert_eq!(
        h.join_result(js).unwrap().error,
        ErrorCode::MEMBER_ID_REQUIRED
    );
    assert!(!h.c.is_consumer_group("g"));
    // A heartbeat of a member the coordinator does not know (it moved
    // here, or restarted) is told to join again.
    let lost = h.c.consumer_heartbeat(
        h.now,
        consumer::Heartbeat {
            group_id: "elsewhere".into(),
            member_id: "m".into(),
            member_epoch: 4,
            rebalance_timeout_ms: -1,
            ..Default::default()
        },
        &OneTopic,
    );
    assert_eq!(lost.0.error, ErrorCode::UNKNOWN_MEMBER_ID);
}

fn consumer_beat(
    h: &mut Harness,
    member: &str,
    epoch: i32,
    owned: Option<Vec<i32>>,
) -> consumer::HeartbeatResult {
    let (result, e) = h.c.consumer_heartbeat(
        h.now,
        consumer::Heartbeat {
            group_id: "g".into(),
            member_id: member.into(),
            member_epoch: epoch,
            rebalance_timeout_ms: -1,
            owned: owned.map(|ps| vec![(vltava_protocol::Uuid([9; 16]), ps)]),
            ..Default::default()
        },
        &OneTopic,
    );
    h.absorb(e);
    result
}

/// A coordinator that took the group's partition over: it loads the
/// records written so far, with the same configuration.
fn take_over(h: &mut Harness) -> Vec<String> {
    let pg = vltava_group::records::partition_for_group("g", 4);
    let mut other = GroupCoordinator::new(h.c.config().clone(), 11);
    for p in 0..4 {
        let problems = other.load_partition(p, log_of(h, p), h.now, &OneTopic);
        if p == pg {
            h.c = other;
            return problems;
        }
    }
    unreachable!()
}

#[test]
fn a_consumer_group_goes_on_where_it_was_after_its_coordinator_moves() {
    let mut h = Harness::new(0);
    let a = consumer_join(&mut h, "g");
    let a_id = a.member_id.clone().unwrap();
    assert_eq!(
        (a.member_epoch, a.assignment.unwrap()[0].1.clone()),
        (1, vec![0, 1])
    );
    // A second member: the first is asked to give up one partition.
    let b = consumer_join(&mut h, "g");
    let b_id = b.member_id.clone().unwrap();
    assert_eq!((b.member_epoch, b.assignment.unwrap()), (2, Vec::new()));
    let asked = consumer_beat(&mut h, &a_id, 1, Some(vec![0, 1]));
    assert_eq!(asked.member_epoch, 1);
    let kept = asked.assignment.unwrap()[0].1.clone();
    assert_eq!(kept.len(), 1);
    assert_eq!(commit_as(&mut h, &a_id, 1), ErrorCode::NONE);

    // The coordinator moves while the first member is still revoking.
    h.now += 20_000;
    assert_eq!(take_over(&mut h), Vec::<String>::new());
    assert!(h.c.is_consumer_group("g"));
    assert_eq!(
        h.c.list_groups(),
        vec![("g".to_string(), "consumer".to_string(), "Reconciling")]
    );
    let group = h.c.consumer_group("g").unwrap().unwrap();
    assert_eq!(group.group_epoch, 2);
    assert_eq!(group.members[&a_id].member_epoch, 1);
    assert_eq!(
        group.members[&a_id].state,
        consumer::MemberState::UnrevokedPartitions
    );
    assert_eq!(group.members[&b_id].member_epoch, 2);
    assert_eq!(committed(&h.c, "g"), 3);
    // Members' epochs hold: commits at them are taken, older ones fenced.
    assert_eq!(commit_as(&mut h, &a_id, 1), ErrorCode::NONE);
    assert_eq!(commit_as(&mut h, &b_id, 1), ErrorCode::STALE_MEMBER_EPOCH);

    // Sessions start again at the load (and the revocation's rebalance
    // timeout too): neither member is expired once their old sessions
    // would have ended (45 s after they joined).
    h.now += 26_000;
    let _ = h.c.tick(h.now);
    assert_eq!(h.c.consumer_group("g").unwrap().unwrap().members.len(), 2);

    // The first member revokes and moves to epoch 2; the second gets the
    // partition released to it; nobody joined again.
    let revoked = consumer_beat(&mut h, &a_id, 1, Some(kept.clone()));
    assert_eq!(revoked.error, ErrorCode::NONE);
    assert_eq!(revoked.member_epoch, 2);
    let got = consumer_beat(&mut h, &b_id, 2, Some(Vec::new()));
    assert_eq!(got.error, ErrorCode::NONE);
    let b_has = got.assignment.unwrap()[0].1.clone();
    assert_eq!(b_has.len(), 1);
    assert_ne!(b_has, kept);

    // Moved again: the stable group comes back stable.
    assert_eq!(take_over(&mut h), Vec::<String>::new());
    assert_eq!(
        h.c.list_groups(),
        vec![("g".to_string(), "consumer".to_string(), "Stable")]
    );
    let group = h.c.consumer_group("g").unwrap().unwrap();
    assert_eq!(
        group.members[&b_id].assigned.values().next().unwrap().len(),
        1
    );

    // Both leave; the empty group is deleted: nothing of it comes back.
    assert_eq!(
        consumer_beat(&mut h, &a_id, -1, None).error,
        ErrorCode::NONE
    );
    assert_eq!(
        consumer_beat(&mut h, &b_id, -1, None).error,
        ErrorCode::NONE
    );
    assert_eq!(take_over(&mut h), Vec::<String>::new());
    assert_eq!(
        h.c.list_groups(),
        vec![("g".to_string(), "consumer".to_string(), "Empty")]
    );
    let (code, e) = h.c.delete_group(h.now, "g");
    assert_eq!(code, ErrorCode::NONE);
    h.absorb(e);
    assert_eq!(take_over(&mut h), Vec::<String>::new());
    assert!(h.c.list_groups().is_empty());
}

#[test]
fn a_group_that_changes_protocol_leaves_no_records_of_the_old_one() {
    let mut h = Harness::new(0);
    // A classic group that emptied, then a consumer group of that name.
    let (m, j) = h.join_new(RANGE);
    let gen = h.join_result(j).unwrap().generation_id;
    let s = h.sync(&m, gen, &[(m.as_str(), "x")]);
    assert_eq!(h.sync_result(s).unwrap().error, ErrorCode::NONE);
    let (_, _, e) = h.c.leave(h.now, "g", &[(m.clone(), None)]);
    h.absorb(e);
    let a = consumer_join(&mut h, "g");
    assert_eq!(a.error, ErrorCode::NONE);
    assert_eq!(take_over(&mut h), Vec::<String>::new());
    assert!(h.c.is_consumer_group("g"));
    assert!(
        h.c.describe_group("g").is_err() || h.c.describe_group("g").unwrap().members.is_empty()
    );

    // It empties and a classic member joins: a classic group again, after
    // a move too.
    let a_id = a.member_id.unwrap();
    assert_eq!(
        consumer_beat(&mut h, &a_id, -1, None).error,
        ErrorCode::NONE
    );
    let (m2, j2) = h.join_new(RANGE);
    let gen = h.join_result(j2).unwrap().generation_id;
    let s = h.sync(&m2, gen, &[(m2.as_str(), "y")]);
    assert_eq!(h.sync_result(s).unwrap().error, ErrorCode::NONE);
    assert_eq!(take_over(&mut h), Vec::<String>::new());
    assert!(!h.c.is_consumer_group("g"));
    let d = h.c.describe_group("g").unwrap();
    assert_eq!((d.state, d.members.len()), ("Stable", 1));
}

#[test]
fn ids_and_metadata_too_long_for_the_records_are_refused_before_anything_changes() {
    let mut h = Harness::new(0);
    let long = "x".repeat(40_000);
    let beat = |group: &str, member: &str, client: &str| consumer::Heartbeat {
        group_id: group.into(),
        member_id: member.into(),
        member_epoch: 0,
        rebalance_timeout_ms: REBALANCE,
        subscribed_topic_names: Some(vec!["t".into()]),
        client_id: client.into(),
        ..Default::default()
    };
    for request in [
        beat(&long, "", "c"),
        beat("g", &long, "c"),
        // A member id made of a client id (at most 32767 bytes in a
        // request header) and a UUID.
        beat("g", "", &"c".repeat(32_767)),
    ] {
        let (result, e) = h.c.consumer_heartbeat(h.now, request, &OneTopic);
        assert_eq!(result.error, ErrorCode::INVALID_REQUEST);
        assert!(e.records.is_empty());
    }
    assert!(h.c.list_groups().is_empty());

    let mut join = Harness::join_request("", None, RANGE);
    join.client_id = "c".repeat(32_767);
    let j = h.join(join);
    assert_eq!(h.join_result(j).unwrap().error, ErrorCode::INVALID_REQUEST);
    let mut join = Harness::join_request("", None, RANGE);
    join.group_id = long.clone();
    let j = h.join(join);
    assert_eq!(h.join_result(j).unwrap().error, ErrorCode::INVALID_GROUP_ID);
    assert!(h.c.list_groups().is_empty());

    // Offset metadata is bounded by the record's string too, whatever
    // offset.metadata.max.bytes says.
    let mut config = h.c.config().clone();
    config.max_metadata_bytes = 100_000;
    h.c.set_config(config);
    let exists = |_: &str, _: i32| true;
    let commit = |metadata: &str| OffsetToCommit {
        topic: "t".into(),
        partition: 0,
        offset: 1,
        leader_epoch: -1,
        metadata: Some(metadata.into()),
    };
    let (errors, e) =
        h.c.commit_offsets(h.now, "g", -1, "", None, &[commit(&long)], &exists);
    assert_eq!(errors, vec![ErrorCode::OFFSET_METADATA_TOO_LARGE]);
    assert!(e.records.is_empty());
    let (errors, _) =
        h.c.commit_offsets(h.now, &long, -1, "", None, &[commit("m")], &exists);
    assert_eq!(errors, vec![ErrorCode::INVALID_GROUP_ID]);
}

#[test]
fn the_later_protocol_of_a_group_wins_on_replay() {
    // Records of both protocols for one group, without the tombstones a
    // conversion writes (say their write failed): whichever came last is
    // what the group is.
    let mut h = Harness::new(0);
    let a = consumer_join(&mut h, "g");
    assert_eq!(a.error, ErrorCode::NONE);
    let consumer_records = h.log.clone();
    h.log.clear();
    let mut other = Harness::new(0);
    let (m, j) = other.join_new(RANGE);
    let gen = other.join_result(j).unwrap().generation_id;
    let s = other.sync(&m, gen, &[(m.as_str(), "x")]);
    assert_eq!(other.sync_result(s).unwrap().error, ErrorCode::NONE);
    let classic_records = other.log.clone();

    let pg = vltava_group::records::partition_for_group("g", 4);
    let load = |records: Vec<(i32, Bytes, Option<Bytes>)>| {
        let mut c = GroupCoordinator::new(h.c.config().clone(), 3);
        let log: Vec<(Option<Bytes>, Option<Bytes>)> = records
            .into_iter()
            .filter(|(p, _, _)| *p == pg)
            .map(|(_, k, v)| (Some(k), v))
            .collect();
        assert!(c.load_partition(pg, log, 0, &OneTopic).is_empty());
        c
    };
    let c = load([consumer_records.clone(), classic_records.clone()].concat());
    assert!(!c.is_consumer_group("g"));
    assert_eq!(c.describe_group("g").unwrap().members.len(), 1);
    let c = load([classic_records, consumer_records].concat());
    assert!(c.is_consumer_group("g"));
    assert_eq!(c.describe_group("g").unwrap().members.len(), 0);
    assert_eq!(c.consumer_group("g").unwrap().unwrap().members.len(), 1);
}
