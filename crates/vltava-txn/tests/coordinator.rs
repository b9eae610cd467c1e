//! The transaction coordinator driven with a simulated clock.

use vltava_protocol::ErrorCode;
use vltava_txn::{InitOutcome, TransactionCoordinator, TxnConfig, TxnState};

fn coordinator() -> TransactionCoordinator {
    let mut c = TransactionCoordinator::new(TxnConfig {
        partitions: 4,
        max_timeout_ms: 60_000,
        id_expiration_ms: 1_000_000,
    });
    for p in 0..4 {
        assert!(c.load_partition(p, Vec::new()).is_empty());
    }
    c
}

/// InitProducerId, handing out `fresh` when a new id is needed.
fn init(c: &mut TransactionCoordinator, now: i64, id: &str, fresh: i64) -> InitOutcome {
    match c.init_producer_id(now, id, 10_000, None, None).0 {
        InitOutcome::NeedProducerId => c.init_producer_id(now, id, 10_000, None, Some(fresh)).0,
        other => other,
    }
}

fn parts(list: &[(&str, i32)]) -> Vec<(String, i32)> {
    list.iter().map(|(t, p)| (t.to_string(), *p)).collect()
}

#[test]
fn a_new_id_gets_a_producer_id_and_each_init_fences_the_last() {
    let mut c = coordinator();
    assert_eq!(
        c.init_producer_id(0, "t", 10_000, None, None).0,
        InitOutcome::NeedProducerId
    );
    let (outcome, effects) = c.init_producer_id(0, "t", 10_000, None, Some(1000));
    assert_eq!(
        outcome,
        InitOutcome::Ready {
            producer_id: 1000,
            producer_epoch: 0
        }
    );
    assert_eq!(effects.records.len(), 1);
    assert_eq!(effects.records[0].0, c.partition_for("t"));
    assert_eq!(
        init(&mut c, 1, "t", 9999),
        InitOutcome::Ready {
            producer_id: 1000,
            producer_epoch: 1
        }
    );
    // The fenced instance (epoch 0) can do nothing more.
    let (code, _) = c.add_partitions(2, "t", 1000, 0, &parts(&[("a", 0)]));
    assert_eq!(code, ErrorCode::PRODUCER_FENCED);
    let (code, _) = c.add_partitions(2, "t", 1001, 1, &parts(&[("a", 0)]));
    assert_eq!(code, ErrorCode::INVALID_PRODUCER_ID_MAPPING);
}

#[test]
fn timeouts_are_checked() {
    let mut c = coordinator();
    for bad in [0, -1, 60_001] {
        assert_eq!(
            c.init_producer_id(0, "t", bad, None, Some(1)).0,
            InitOutcome::Error(ErrorCode::INVALID_TRANSACTION_TIMEOUT)
        );
    }
    assert_eq!(
        c.init_producer_id(0, "", 1000, None, Some(1)).0,
        InitOutcome::Error(ErrorCode::INVALID_REQUEST)
    );
    // Longer than the record's key can hold.
    let (outcome, effects) = c.init_producer_id(0, &"t".repeat(40_000), 1000, None, Some(1));
    assert_eq!(outcome, InitOutcome::Error(ErrorCode::INVALID_REQUEST));
    assert!(effects.records.is_empty());
}

#[test]
fn commit_writes_markers_to_every_partition_then_completes() {
    let mut c = coordinator();
    init(&mut c, 0, "t", 5);
    let (code, effects) = c.add_partitions(10, "t", 5, 0, &parts(&[("a", 0), ("b", 2)]));
    assert_eq!(code, ErrorCode::NONE);
    assert_eq!(effects.records.len(), 1);
    // Adding what is already there writes nothing.
    let (code, effects) = c.add_partitions(11, "t", 5, 0, &parts(&[("a", 0)]));
    assert_eq!((code, effects.records.len()), (ErrorCode::NONE, 0));
    let (code, effects) = c.add_partitions(12, "t", 5, 0, &parts(&[("a", 1)]));
    assert_eq!((code, effects.records.len()), (ErrorCode::NONE, 1));
    assert_eq!(c.get("t").unwrap().start_ms, 10);

    let (code, effects) = c.end_txn(20, "t", 5, 0, true);
    assert_eq!(code, ErrorCode::NONE);
    assert_eq!(effects.completions.len(), 1);
    let completion = &effects.completions[0];
    assert!(completion.commit);
    assert_eq!(
        completion.partitions,
        parts(&[("a", 0), ("a", 1), ("b", 2)])
    );
    assert_eq!(c.get("t").unwrap().state, TxnState::PrepareCommit);
    // While markers are written, the producer must wait.
    assert_eq!(
        c.add_partitions(21, "t", 5, 0, &parts(&[("a", 0)])).0,
        ErrorCode::CONCURRENT_TRANSACTIONS
    );
    assert_eq!(
        c.end_txn(21, "t", 5, 0, true).0,
        ErrorCode::CONCURRENT_TRANSACTIONS
    );
    assert_eq!(
        c.end_txn(21, "t", 5, 0, false).0,
        ErrorCode::INVALID_TXN_STATE
    );
    assert_eq!(c.pending_completions(), vec![completion.clone()]);

    let done = c.complete(22, completion);
    assert_eq!(done.records.len(), 1);
    let txn = c.get("t").unwrap();
    assert_eq!(txn.state, TxnState::CompleteCommit);
    assert!(txn.partitions.is_empty());
    assert!(c.pending_completions().is_empty());
    // A retried commit succeeds; an abort of a committed transaction does not.
    assert_eq!(c.end_txn(23, "t", 5, 0, true).0, ErrorCode::NONE);
    assert_eq!(
        c.end_txn(23, "t", 5, 0, false).0,
        ErrorCode::INVALID_TXN_STATE
    );
    // The next transaction starts with the next AddPartitionsToTxn.
    assert_eq!(
        c.add_partitions(30, "t", 5, 0, &parts(&[("c", 0)])).0,
        ErrorCode::NONE
    );
    assert_eq!(c.get("t").unwrap().start_ms, 30);
}

#[test]
fn ending_a_transaction_that_never_began_is_invalid() {
    let mut c = coordinator();
    init(&mut c, 0, "t", 5);
    assert_eq!(
        c.end_txn(1, "t", 5, 0, false).0,
        ErrorCode::INVALID_TXN_STATE
    );
    assert_eq!(
        c.end_txn(1, "unknown", 5, 0, false).0,
        ErrorCode::INVALID_PRODUCER_ID_MAPPING
    );
}

#[test]
fn init_during_a_transaction_aborts_it_and_fences_the_old_producer() {
    let mut c = coordinator();
    init(&mut c, 0, "t", 5);
    c.add_partitions(1, "t", 5, 0, &parts(&[("a", 0)]));
    let (outcome, effects) = c.init_producer_id(2, "t", 10_000, None, None);
    assert_eq!(
        outcome,
        InitOutcome::Error(ErrorCode::CONCURRENT_TRANSACTIONS)
    );
    // The abort markers carry the bumped epoch, which fences epoch 0.
    assert_eq!(effects.completions.len(), 1);
    let abort = &effects.completions[0];
    assert!(!abort.commit);
    assert_eq!((abort.producer_id, abort.producer_epoch), (5, 1));
    assert_eq!(c.end_txn(3, "t", 5, 0, true).0, ErrorCode::PRODUCER_FENCED);
    // Until the markers are written the new producer waits...
    assert_eq!(
        c.init_producer_id(3, "t", 10_000, None, None).0,
        InitOutcome::Error(ErrorCode::CONCURRENT_TRANSACTIONS)
    );
    c.complete(4, abort);
    assert_eq!(c.get("t").unwrap().state, TxnState::CompleteAbort);
    // ...then gets the epoch after the fence.
    assert_eq!(
        init(&mut c, 5, "t", 99),
        InitOutcome::Ready {
            producer_id: 5,
            producer_epoch: 2
        }
    );
}

#[test]
fn transactions_past_their_timeout_are_aborted() {
    let mut c = coordinator();
    init(&mut c, 0, "t", 5);
    c.add_partitions(100, "t", 5, 0, &parts(&[("a", 0)]));
    assert!(c.tick(10_099).completions.is_empty());
    let effects = c.tick(10_100);
    assert_eq!(effects.completions.len(), 1);
    assert_eq!(effects.completions[0].producer_epoch, 1);
    assert_eq!(c.get("t").unwrap().state, TxnState::PrepareAbort);
    // The producer's commit is refused: it was fenced.
    assert_eq!(
        c.end_txn(10_200, "t", 5, 0, true).0,
        ErrorCode::PRODUCER_FENCED
    );
}

/// A transaction begun while the wall clock was stepped forward (by 40
/// minutes here) and then stepped back still times out about one timeout
/// later:
/// by its recorded start alone it would stay open for the size of the step,
/// and hold read_committed readers of its partitions that long (chaos seed
/// 1310). One loaded from the log is timed from the load as well.
#[test]
fn a_clock_stepped_back_does_not_keep_a_transaction_open() {
    let mut c = coordinator();
    init(&mut c, 0, "t", 5);
    assert!(c.tick(1_000).completions.is_empty());
    let step = 2_400_000;
    c.add_partitions(2_000 + step, "t", 5, 0, &parts(&[("a", 0)]));
    assert!(c.tick(3_000).completions.is_empty(), "the clock is back");
    // The time between the step back and the next call is not seen (the
    // clock went back over it): the abort comes a timeout after that call.
    assert!(c.tick(12_999).completions.is_empty());
    let effects = c.tick(13_000);
    assert_eq!(
        effects.completions.len(),
        1,
        "a timeout after it began, by the time that passed"
    );
    assert_eq!(c.get("t").unwrap().state, TxnState::PrepareAbort);

    // Loaded with a start in the future: timed out one timeout after the
    // load at the latest.
    let mut log: Vec<(i32, bytes::Bytes, Option<bytes::Bytes>)> = Vec::new();
    let mut c = coordinator();
    let (_, e) = c.init_producer_id(0, "u", 10_000, None, Some(7));
    log.extend(e.records);
    let (_, e) = c.add_partitions(step, "u", 7, 0, &parts(&[("a", 0)]));
    log.extend(e.records);
    let mut loaded = TransactionCoordinator::new(TxnConfig {
        partitions: 4,
        max_timeout_ms: 60_000,
        id_expiration_ms: 10_000_000,
    });
    for p in 0..4 {
        let mine: Vec<_> = log
            .iter()
            .filter(|r| r.0 == p)
            .map(|(_, k, v)| (Some(k.clone()), v.clone()))
            .collect();
        assert!(loaded.load_partition(p, mine).is_empty());
    }
    assert_eq!(loaded.get("u").unwrap().state, TxnState::Ongoing);
    assert!(loaded.tick(5_000).completions.is_empty());
    assert!(loaded.tick(14_999).completions.is_empty());
    assert_eq!(loaded.tick(15_000).completions.len(), 1);

    // A coordinator that gave the partition up and loads it again times
    // the transaction it finds from that load, not from what it saw before.
    let mut back = coordinator();
    init(&mut back, 0, "v", 8);
    back.add_partitions(0, "v", 8, 0, &parts(&[("a", 0)]));
    let pv = back.partition_for("v");
    assert!(back.tick(5_000).completions.is_empty());
    back.unload_partition(pv);
    let (_, e) = c.init_producer_id(20_000, "v", 10_000, None, Some(8));
    let (_, e2) = c.add_partitions(20_000, "v", 8, 0, &parts(&[("a", 0)]));
    let records: Vec<_> = e
        .records
        .into_iter()
        .chain(e2.records)
        .filter(|r| r.0 == pv)
        .map(|(_, k, v)| (Some(k), v))
        .collect();
    assert!(back.load_partition(pv, records).is_empty());
    assert!(back.tick(20_000).completions.is_empty());
    assert!(
        back.tick(29_999).completions.is_empty(),
        "begun at 20 s by its record"
    );
    assert_eq!(back.tick(30_000).completions.len(), 1);
}

#[test]
fn idle_transactional_ids_expire_with_a_tombstone() {
    let mut c = coordinator();
    init(&mut c, 0, "t", 5);
    assert!(c.tick(999_999).records.is_empty());
    let effects = c.tick(1_000_000);
    assert_eq!(effects.records.len(), 1);
    assert!(effects.records[0].2.is_none());
    assert!(c.get("t").is_none());
    // An ongoing transaction never expires this way (it times out instead).
    init(&mut c, 0, "u", 6);
    c.add_partitions(0, "u", 6, 0, &parts(&[("a", 0)]));
    c.end_txn(0, "u", 6, 0, true);
    let effects = c.tick(2_000_000);
    assert!(effects.records.is_empty());
    assert!(c.get("u").is_some());
}

#[test]
fn replaying_the_records_rebuilds_every_transaction() {
    let mut c = coordinator();
    let mut log: Vec<(i32, bytes::Bytes, Option<bytes::Bytes>)> = Vec::new();
    let mut keep = |e: vltava_txn::Effects| log.extend(e.records);
    let (_, e) = c.init_producer_id(0, "done", 10_000, None, Some(1));
    keep(e);
    let (_, e) = c.add_partitions(1, "done", 1, 0, &parts(&[("a", 0)]));
    keep(e);
    let (_, e) = c.end_txn(2, "done", 1, 0, true);
    let completion = e.completions[0].clone();
    keep(e);
    keep(c.complete(3, &completion));
    let (_, e) = c.init_producer_id(0, "preparing", 10_000, None, Some(2));
    keep(e);
    let (_, e) = c.add_partitions(1, "preparing", 2, 0, &parts(&[("b", 1), ("b", 0)]));
    keep(e);
    let (_, e) = c.end_txn(2, "preparing", 2, 0, false);
    keep(e);
    let (_, e) = c.init_producer_id(0, "gone", 10_000, None, Some(3));
    keep(e);
    keep(c.tick(1_000_000));

    let mut replayed = TransactionCoordinator::new(c.config().clone());
    for p in 0..4 {
        let records = log
            .iter()
            .filter(|r| r.0 == p)
            .map(|(_, k, v)| (Some(k.clone()), v.clone()));
        assert!(replayed.load_partition(p, records).is_empty());
    }
    let done = replayed.get("done").unwrap();
    assert_eq!(done.state, TxnState::CompleteCommit);
    assert_eq!((done.producer_id, done.producer_epoch), (1, 0));
    let preparing = replayed.get("preparing").unwrap();
    assert_eq!(preparing.state, TxnState::PrepareAbort);
    // "gone" (idle since 0) expired in the tick; "done" was last updated
    // at 3, so it had not yet.
    assert!(replayed.get("gone").is_none());
    let pending = replayed.pending_completions();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].transactional_id, "preparing");
    assert_eq!(pending[0].partitions, parts(&[("b", 0), ("b", 1)]));
}

#[test]
fn restore_puts_back_a_change_whose_record_was_not_written() {
    let mut c = coordinator();
    init(&mut c, 0, "t", 5);
    let before = c.get("t").unwrap().clone();
    let (_, effects) = c.add_partitions(1, "t", 5, 0, &parts(&[("a", 0)]));
    c.restore(effects.undo);
    assert_eq!(c.get("t").unwrap(), &before);
    let (_, effects) = c.init_producer_id(0, "new", 10_000, None, Some(7));
    c.restore(effects.undo);
    assert!(c.get("new").is_none());
}

#[test]
fn an_exhausted_epoch_moves_to_a_new_producer_id() {
    let mut c = coordinator();
    init(&mut c, 0, "t", 5);
    // Walk the epoch up to the limit.
    for _ in 0..(i16::MAX - 2) {
        assert!(matches!(
            init(&mut c, 1, "t", 77),
            InitOutcome::Ready { producer_id: 5, .. }
        ));
    }
    assert_eq!(c.get("t").unwrap().producer_epoch, i16::MAX - 2);
    assert!(matches!(
        init(&mut c, 1, "t", 77),
        InitOutcome::Ready { .. }
    ));
    assert_eq!(
        c.init_producer_id(2, "t", 10_000, None, None).0,
        InitOutcome::NeedProducerId
    );
    assert_eq!(
        c.init_producer_id(2, "t", 10_000, None, Some(77)).0,
        InitOutcome::Ready {
            producer_id: 77,
            producer_epoch: 0
        }
    );
    assert_eq!(c.get("t").unwrap().previous_producer_id, 5);
}

#[test]
fn kip_360_expected_epochs() {
    let mut c = coordinator();
    init(&mut c, 0, "t", 5);
    init(&mut c, 1, "t", 5);
    // A producer that knows (5, 1) may bump again; a retry with the
    // epoch before that bump gets the same answer; anything else is fenced.
    assert_eq!(
        c.init_producer_id(2, "t", 10_000, Some((5, 7)), None).0,
        InitOutcome::Error(ErrorCode::PRODUCER_FENCED)
    );
    assert_eq!(
        c.init_producer_id(2, "t", 10_000, Some((5, 1)), None).0,
        InitOutcome::Ready {
            producer_id: 5,
            producer_epoch: 2
        }
    );
    assert_eq!(
        c.init_producer_id(3, "t", 10_000, Some((5, 1)), None).0,
        InitOutcome::Ready {
            producer_id: 5,
            producer_epoch: 2
        }
    );
}

#[test]
fn a_plain_init_fences_the_epoch_before_it_for_kip_360_retries() {
    let mut c = coordinator();
    init(&mut c, 0, "t", 5);
    // A new instance (no expected epoch) takes epoch 1.
    init(&mut c, 1, "t", 5);
    // The instance of epoch 0 cannot pass for a retry of that bump.
    assert_eq!(
        c.init_producer_id(2, "t", 10_000, Some((5, 0)), None).0,
        InitOutcome::Error(ErrorCode::PRODUCER_FENCED)
    );
    assert_eq!(c.get("t").unwrap().producer_epoch, 1);
}

#[test]
fn requests_before_the_partition_is_loaded_wait() {
    let mut c = TransactionCoordinator::new(TxnConfig::default());
    assert_eq!(
        c.init_producer_id(0, "t", 1000, None, Some(1)).0,
        InitOutcome::Error(ErrorCode::COORDINATOR_LOAD_IN_PROGRESS)
    );
}

#[test]
fn an_unloaded_partition_is_forgotten_and_a_reload_gives_the_state_of_the_log() {
    let mut c = coordinator();
    let mut log: Vec<(i32, bytes::Bytes, Option<bytes::Bytes>)> = Vec::new();
    let records_of = |log: &[(i32, bytes::Bytes, Option<bytes::Bytes>)], p: i32| {
        log.iter()
            .filter(|r| r.0 == p)
            .map(|(_, k, v)| (Some(k.clone()), v.clone()))
            .collect::<Vec<_>>()
    };
    let (pa, pb) = (c.partition_for("a"), c.partition_for("b"));
    assert_ne!(pa, pb);
    // "a" is committing (its markers are not written yet), "b" is ongoing.
    let (_, e) = c.init_producer_id(0, "a", 10_000, None, Some(1));
    log.extend(e.records);
    let (_, e) = c.add_partitions(1, "a", 1, 0, &parts(&[("t", 0)]));
    log.extend(e.records);
    let (code, e) = c.end_txn(2, "a", 1, 0, true);
    assert_eq!(code, ErrorCode::NONE);
    log.extend(e.records);
    let (_, e) = c.init_producer_id(0, "b", 10_000, None, Some(2));
    log.extend(e.records);
    let (_, e) = c.add_partitions(1, "b", 2, 0, &parts(&[("t", 1)]));
    log.extend(e.records);

    assert_eq!(c.unload_partition(pa), 1);
    assert!(!c.is_partition_loaded(pa));
    assert!(c.get("a").is_none());
    assert_eq!(
        c.init_producer_id(3, "a", 10_000, None, None).0,
        InitOutcome::Error(ErrorCode::COORDINATOR_LOAD_IN_PROGRESS)
    );
    assert_eq!(
        c.end_txn(3, "a", 1, 0, true).0,
        ErrorCode::COORDINATOR_LOAD_IN_PROGRESS
    );
    assert!(
        c.pending_completions().is_empty(),
        "an unloaded transaction is finished by the new coordinator, not here"
    );
    assert_eq!(
        c.get("b").unwrap().state,
        TxnState::Ongoing,
        "other partitions stay"
    );
    let timeouts = c.tick(10_000_000);
    assert!(timeouts
        .completions
        .iter()
        .all(|x| x.transactional_id == "b"));

    // The partition's new coordinator loads it and resumes the commit.
    let mut other = TransactionCoordinator::new(c.config().clone());
    other.load_partition(pa, records_of(&log, pa));
    let resumed = other.pending_completions_in(pa);
    assert_eq!(resumed.len(), 1);
    assert_eq!(
        (resumed[0].transactional_id.as_str(), resumed[0].commit),
        ("a", true)
    );
    assert!(other.pending_completions_in(pb).is_empty());
    log.extend(other.complete(4, &resumed[0]).records);
    let (outcome, e) = other.init_producer_id(5, "a", 10_000, None, None);
    assert_eq!(
        outcome,
        InitOutcome::Ready {
            producer_id: 1,
            producer_epoch: 1
        }
    );
    log.extend(e.records);

    // Loading it back here gives what the log says now.
    assert!(c.load_partition(pa, records_of(&log, pa)).is_empty());
    let a = c.get("a").unwrap();
    assert_eq!(
        (a.state, a.producer_id, a.producer_epoch),
        (TxnState::Empty, 1, 1)
    );
    assert!(c.pending_completions_in(pa).is_empty());
    // The producer fenced by the new epoch stays fenced.
    assert_eq!(
        c.add_partitions(6, "a", 1, 0, &parts(&[("t", 0)])).0,
        ErrorCode::PRODUCER_FENCED
    );
}
