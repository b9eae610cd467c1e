//! Which log directory holds each replica, told to the controller
//! (AssignReplicasToDirs, KIP-858): the controller needs it to take only the
//! replicas of a failed directory out of their ISRs and leaderships. After
//! every sync of the hosted partitions, and every second (a move between
//! directories changes a replica's directory without a metadata change),
//! the replicas whose directory in the metadata image is not where their
//! log is are sent in one request.
//!
//! A broker with one log directory sends nothing: when that directory
//! fails the broker stops, and fencing moves everything it had.

use std::time::Duration;

use tokio::sync::watch;
use tracing::{debug, warn};
use vltava_protocol::{ErrorCode, Uuid};

use super::fetcher::FetcherDeps;

/// How often the directories are compared with the image without a sync.
const CHECK_EVERY: Duration = Duration::from_secs(1);

pub async fn run(deps: FetcherDeps, mut shutdown: watch::Receiver<bool>) {
    if deps.replicas.log_dirs().dirs().len() < 2 {
        return;
    }
    let mut roles = deps.replicas.roles_changed();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(CHECK_EVERY) => {}
            changed = roles.changed() => if changed.is_err() { return },
            _ = shutdown.wait_for(|s| *s) => return,
        }
        if deps.channel.broker_epoch().is_none() {
            continue;
        }
        let pending = unassigned(&deps);
        if pending.is_empty() {
            continue;
        }
        let sent = pending.len();
        match deps.channel.assign_replicas_to_dirs(pending).await {
            Ok(answers) => {
                let refused: Vec<_> = answers
                    .iter()
                    .filter(|(_, _, code)| *code != ErrorCode::NONE)
                    .collect();
                debug!(
                    sent,
                    refused = refused.len(),
                    "assigned replicas to log directories"
                );
                for (topic_id, partition, code) in refused {
                    debug!(%topic_id, partition, "directory assignment refused: {code:?}");
                }
            }
            Err(e) => warn!(sent, "assigning replicas to log directories: {e}"),
        }
    }
}

/// The hosted replicas (not offline) whose directory in the image is not
/// the one holding their log: (topic id, partition, directory id).
fn unassigned(deps: &FetcherDeps) -> Vec<(Uuid, i32, Uuid)> {
    let image = deps.metadata.image();
    let log_dirs = deps.replicas.log_dirs();
    let mut out = Vec::new();
    for p in deps.replicas.all() {
        if p.is_dir_offline() {
            continue;
        }
        let Some(dir) = log_dirs.dir_of(&p.topic, p.index) else {
            continue;
        };
        let actual = Uuid(log_dirs.dirs()[dir].id.0);
        let Some(topic) = image.topic(&p.topic) else {
            continue;
        };
        if topic.id.0 != p.topic_id.0 {
            continue;
        }
        let Some(state) = topic.partitions.get(p.index as usize) else {
            continue;
        };
        if state.replicas.contains(&deps.node_id) && state.directory_of(deps.node_id) != actual {
            out.push((topic.id, p.index, actual));
        }
    }
    out
}
