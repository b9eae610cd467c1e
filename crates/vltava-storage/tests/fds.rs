//! Thousands of partitions with a small cap on open segment files: the
//! process's open file count stays at about one per partition.
//! (Its own test binary: /proc/self/fd counts the whole process.)

mod common;

use std::fs;
use std::path::Path;

use common::*;
use vltava_storage::{KafkaUuid, LogManager, LogManagerOptions, CLEAN_SHUTDOWN_FILE};

fn open_fds() -> usize {
    fs::read_dir("/proc/self/fd").unwrap().count()
}

/// Hard links: the copies share the (never modified) segment files, which
/// keeps setting up 2,000 logs cheap on a slow disk.
fn link_dir(from: &Path, to: &Path) {
    fs::create_dir(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        fs::hard_link(e.path(), to.join(e.file_name())).unwrap();
    }
}

#[test]
fn two_thousand_partitions_stay_within_the_fd_budget() {
    const LOGS: usize = 2000;
    const CAP: usize = 16;
    let dir = tempfile::tempdir().unwrap();
    let cfg = small_config(150);
    // One log of three segments (one batch each), closed cleanly, then
    // linked 2,000 times: opening them is what is measured. Nothing below
    // writes to a segment or index file (reads only; a clean close of an
    // unchanged log rewrites nothing), so sharing the inodes is safe.
    {
        let m = LogManager::open(dir.path(), LogManagerOptions::default(), 0).unwrap();
        let log = m
            .create_log("t", 0, KafkaUuid::random(), cfg.clone(), 0)
            .unwrap();
        for i in 0..3 {
            log.append_as_leader(batch(1, i, 60), 0, 0).unwrap();
        }
        assert_eq!(log.segment_count(), 3);
        m.close().unwrap();
    }
    for p in 1..LOGS {
        link_dir(&dir.path().join("t-0"), &dir.path().join(format!("t-{p}")));
    }
    fs::remove_file(dir.path().join("recovery-point-offset-checkpoint")).unwrap();
    fs::remove_file(dir.path().join("log-start-offset-checkpoint")).unwrap();
    assert!(dir.path().join(CLEAN_SHUTDOWN_FILE).exists());

    let base = open_fds();
    let m = LogManager::open(
        dir.path(),
        LogManagerOptions {
            default_config: cfg,
            max_open_segment_files: CAP,
            fd_cache: None,
        },
        0,
    )
    .unwrap();
    assert_eq!(m.logs().len(), LOGS);
    let after_open = open_fds();
    // One handle per partition (its active segment) and nothing else.
    assert!(
        after_open <= base + LOGS + 4,
        "{after_open} fds open for {LOGS} logs (base {base})"
    );
    // Reading every log from its start opens two older segments each
    // (4,000 files without the cap).
    for log in m.logs() {
        let all = read_all(&log);
        assert_eq!(all.len(), 3);
    }
    let after_reads = open_fds();
    assert!(
        after_reads <= base + LOGS + CAP + 4,
        "{after_reads} fds open after reads (base {base}, cap {CAP})"
    );
    assert!(m.fd_cache().open_count() <= CAP);
    m.close().unwrap();
    // A clean close releases the active segments' handles too.
    assert!(
        open_fds() <= base + CAP + 4,
        "{} fds after close",
        open_fds()
    );
}
