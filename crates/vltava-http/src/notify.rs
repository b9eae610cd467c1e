//! Burrow's HTTP notifier: a JSON body POSTed to `http.lag.notifier.url`
//! when a consumer group's lag status changes.
//!
//! After each lag sample the node evaluates the groups it coordinates and
//! compares each group's status with the one it had at the last sample.
//! A change is sent when either side is at or above the threshold
//! (`http.lag.notifier.threshold`, WARN by default): OK to WARN, WARN to
//! ERR, ERR back to OK (the "close" Burrow's `send-close` sends). A group
//! first seen in a status below the threshold sends nothing. Each run of
//! non-OK statuses is an incident with an id, so a receiver can pair the
//! notification that opened it with the one that closed it.
//!
//! Deciding what to send ([`Notifier::changes`]) is a pure step over the
//! evaluated groups and the previous statuses; delivery runs in one task
//! of its own fed through a bounded queue, so a slow or dead receiver
//! never delays sampling: when the queue is full the notification is
//! dropped and counted. Each POST gets `http.lag.notifier.timeout.ms`;
//! failures are logged and counted, not retried (Burrow does not retry
//! either: the next change sends the current state anyway).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use hyper::Method;
use serde_json::json;
use tokio::sync::mpsc;
use tracing::{debug, warn};

use crate::client::{HttpClient, Target};
use crate::lag::{GroupLag, Status};

/// Notifications waiting for delivery; more are dropped (and counted).
const QUEUE: usize = 256;

/// Where and how notifications are sent.
#[derive(Clone, Debug)]
pub struct NotifierSettings {
    pub url: String,
    /// The lowest group status whose changes are sent (WARN or ERR).
    pub threshold: Status,
    pub timeout: Duration,
    /// Named in each body: the cluster id, as Burrow names its cluster.
    pub cluster: String,
    pub node_id: i32,
}

impl NotifierSettings {
    /// Settings from the broker's configuration values; an unusable URL is
    /// an error naming it, so start-up stops rather than staying silent.
    pub fn new(
        url: &str,
        threshold: &str,
        timeout_ms: i32,
        cluster: &str,
        node_id: i32,
    ) -> Result<NotifierSettings, String> {
        Target::parse(url).map_err(|e| format!("http.lag.notifier.url {url:?}: {e}"))?;
        let threshold = match threshold {
            "WARN" => Status::Warn,
            "ERR" => Status::Err,
            other => {
                return Err(format!(
                    "http.lag.notifier.threshold: {other} is not WARN or ERR"
                ))
            }
        };
        Ok(NotifierSettings {
            url: url.to_string(),
            threshold,
            timeout: Duration::from_millis(timeout_ms.max(1) as u64),
            cluster: cluster.to_string(),
            node_id,
        })
    }
}

/// One notification to send.
#[derive(Clone, Debug, PartialEq)]
pub struct Notification {
    pub group: String,
    /// `None` the first time the group is seen.
    pub previous: Option<Status>,
    pub status: Status,
    /// The incident: first sample of the run of non-OK statuses this
    /// change belongs to (or that it closes).
    pub incident_start_ms: i64,
    pub body: serde_json::Value,
}

/// Counters for `/metrics`.
#[derive(Debug, Default)]
pub struct NotifierStats {
    pub sent: AtomicU64,
    pub failed: AtomicU64,
    pub dropped: AtomicU64,
}

struct Seen {
    status: Status,
    /// When the current non-OK run started (meaningless while OK).
    incident_start_ms: i64,
}

pub struct Notifier {
    settings: NotifierSettings,
    seen: Mutex<HashMap<String, Seen>>,
    queue: mpsc::Sender<Notification>,
    pub stats: Arc<NotifierStats>,
}

impl Notifier {
    /// A notifier and its delivery task (spawned on the current runtime).
    pub fn start(settings: NotifierSettings) -> Arc<Notifier> {
        let (queue, rx) = mpsc::channel(QUEUE);
        let stats = Arc::new(NotifierStats::default());
        tokio::spawn(deliver(settings.clone(), rx, stats.clone()));
        Arc::new(Notifier {
            settings,
            seen: Mutex::new(HashMap::new()),
            queue,
            stats,
        })
    }

    /// Takes in one evaluation of every group this node coordinates and
    /// queues what changed. Groups not in `groups` are forgotten (deleted,
    /// or their coordinator moved: the new one notifies from now on).
    pub fn observe(&self, groups: &[GroupLag], now_ms: i64) {
        let changes = {
            let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
            changes(&self.settings, &mut seen, groups, now_ms)
        };
        for n in changes {
            if self.queue.try_send(n).is_err() {
                self.stats.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    #[cfg(test)]
    fn changes_for_test(&self, groups: &[GroupLag], now_ms: i64) -> Vec<Notification> {
        let mut seen = self.seen.lock().unwrap();
        changes(&self.settings, &mut seen, groups, now_ms)
    }
}

/// What to send for one evaluation, updating `seen`.
fn changes(
    settings: &NotifierSettings,
    seen: &mut HashMap<String, Seen>,
    groups: &[GroupLag],
    now_ms: i64,
) -> Vec<Notification> {
    let mut out = Vec::new();
    let mut present = std::collections::HashSet::new();
    for g in groups {
        present.insert(g.group.clone());
        let previous = seen.get(&g.group).map(|s| s.status);
        let incident_start_ms = match seen.get(&g.group) {
            Some(s) if s.status != Status::Ok => s.incident_start_ms,
            _ => now_ms,
        };
        seen.insert(
            g.group.clone(),
            Seen {
                status: g.status,
                incident_start_ms,
            },
        );
        if previous == Some(g.status) {
            continue;
        }
        let crosses =
            g.status >= settings.threshold || previous.is_some_and(|p| p >= settings.threshold);
        if !crosses {
            continue;
        }
        let event = if g.status < settings.threshold {
            "close"
        } else {
            "open"
        };
        let body = json!({
            "event": event,
            "id": format!("{}:{}:{}", settings.cluster, g.group, incident_start_ms),
            "cluster": settings.cluster,
            "node": settings.node_id,
            "group": g.group,
            "status": g.status.name(),
            "previous": previous.map(Status::name),
            "start": incident_start_ms,
            "timestamp": now_ms,
            "totallag": g.total_lag(),
            "result": g.to_json(&settings.cluster, false),
        });
        out.push(Notification {
            group: g.group.clone(),
            previous,
            status: g.status,
            incident_start_ms,
            body,
        });
    }
    seen.retain(|g, _| present.contains(g));
    out
}
async fn deliver(
    settings: NotifierSettings,
    mut rx: mpsc::Receiver<Notification>,
    stats: Arc<NotifierStats>,
) {
    let (target, client) = match (
        Target::parse(&settings.url),
        HttpClient::new("vltava-lag-notifier"),
    ) {
        (Ok(target), Ok(client)) => (target, client),
        (Err(e), _) | (_, Err(e)) => {
            warn!("lag notifications cannot be sent to {}: {e}", settings.url);
            return;
        }
    };
    while let Some(n) = rx.recv().await {
        let body = Bytes::from(n.body.to_string());
        let sent = client
            .request(
                Method::POST,
                &target,
                Some(("application/json", body)),
                settings.timeout,
            )
            .await;
        match sent {
            Ok((status, _)) if (200..300).contains(&status) => {
                debug!(group = %n.group, status = n.status.name(), "lag notification sent");
                stats.sent.fetch_add(1, Ordering::Relaxed);
            }
            Ok((status, _)) => {
                warn!(
                    "lag notification for group {} ({}): {} answered HTTP {status}",
                    n.group,
                    n.status.name(),
                    settings.url
                );
                stats.failed.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => {
                warn!(
                    "lag notification for group {} ({}) to {} failed: {e}",
                    n.group,
                    n.status.name(),
                    settings.url
                );
                stats.failed.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lag::PartitionLag;

    fn settings(threshold: Status) -> NotifierSettings {
        NotifierSettings {
            url: "http://127.0.0.1:1/hook".into(),
            threshold,
            timeout: Duration::from_secs(1),
            cluster: "c1".into(),
            node_id: 1,
        }
    }

    fn group(name: &str, status: Status, lag: i64) -> GroupLag {
        GroupLag {
            group: name.into(),
            status,
            partitions: vec![PartitionLag {
                topic: "t".into(),
                partition: 0,
                status: if status == Status::Ok {
                    Status::Ok
                } else {
                    Status::Stop
                },
                current_lag: lag,
                committed: 5,
                window: vec![],
                complete: 1.0,
            }],
        }
    }

    /// What was sent: (group, previous, status, incident start).
    type Sent = (String, Option<Status>, Status, i64);

    fn run(threshold: Status, steps: &[&[(&str, Status)]]) -> Vec<Vec<Sent>> {
        let settings = settings(threshold);
        let mut seen = HashMap::new();
        steps
            .iter()
            .enumerate()
            .map(|(i, groups)| {
                let groups: Vec<GroupLag> = groups.iter().map(|(g, s)| group(g, *s, 7)).collect();
                changes(&settings, &mut seen, &groups, 1000 * i as i64)
                    .into_iter()
                    .map(|n| (n.group, n.previous, n.status, n.incident_start_ms))
                    .collect()
            })
            .collect()
    }

    #[test]
    fn a_change_at_or_over_the_threshold_is_sent_and_so_is_its_close() {
        use Status::*;
        let sent = run(
            Warn,
            &[
                &[("g", Ok)],
                &[("g", Ok)],
                &[("g", Warn)],
                &[("g", Warn)],
                &[("g", Err)],
                &[("g", Ok)],
            ],
        );
        assert_eq!(sent[0], vec![], "first seen OK: nothing");
        assert_eq!(sent[1], vec![]);
        assert_eq!(sent[2], vec![("g".into(), Some(Ok), Warn, 2000)]);
        assert_eq!(sent[3], vec![], "no change, nothing sent");
        assert_eq!(
            sent[4],
            vec![("g".into(), Some(Warn), Err, 2000)],
            "same incident"
        );
        assert_eq!(
            sent[5],
            vec![("g".into(), Some(Err), Ok, 2000)],
            "the close names the incident"
        );
    }

    #[test]
    fn below_an_err_threshold_warn_changes_are_quiet() {
        use Status::*;
        let sent = run(
            Err,
            &[&[("g", Warn)], &[("g", Ok)], &[("g", Err)], &[("g", Warn)]],
        );
        assert_eq!(sent[0], vec![], "WARN is under the ERR threshold");
        assert_eq!(sent[1], vec![]);
        assert_eq!(sent[2], vec![("g".into(), Some(Ok), Err, 2000)]);
        assert_eq!(
            sent[3],
            vec![("g".into(), Some(Err), Warn, 2000)],
            "dropping under the threshold closes"
        );
    }

    #[test]
    fn a_group_first_seen_in_error_is_sent_and_a_vanished_group_is_forgotten() {
        use Status::*;
        let sent = run(
            Warn,
            &[
                &[("a", Err), ("b", Ok)],
                &[("b", Ok)],
                &[("a", Err), ("b", Ok)],
            ],
        );
        assert_eq!(sent[0], vec![("a".into(), None, Err, 0)]);
        assert_eq!(sent[1], vec![]);
        assert_eq!(
            sent[2],
            vec![("a".into(), None, Err, 2000)],
            "a came back: a new incident"
        );
    }

    #[test]
    fn the_body_names_the_incident_the_group_and_its_lag() {
        let settings = settings(Status::Warn);
        let mut seen = HashMap::new();
        let n = changes(
            &settings,
            &mut seen,
            &[group("orders", Status::Err, 42)],
            5000,
        );
        let body = &n[0].body;
        assert_eq!(body["event"], "open");
        assert_eq!(body["group"], "orders");
        assert_eq!(body["status"], "ERR");
        assert_eq!(body["previous"], serde_json::Value::Null);
        assert_eq!(body["id"], "c1:orders:5000");
        assert_eq!(body["totallag"], 42);
        assert_eq!(body["result"]["partitions"][0]["status"], "STOP");
        let n = changes(
            &settings,
            &mut seen,
            &[group("orders", Status::Ok, 0)],
            9000,
        );
        assert_eq!(n[0].body["event"], "close");
        assert_eq!(n[0].body["id"], "c1:orders:5000");
    }

    #[test]
    fn bad_settings_are_refused_by_name() {
        for bad in ["ftp://x/", "/just/a/path", "not a url"] {
            let e = NotifierSettings::new(bad, "WARN", 1000, "c", 1).unwrap_err();
            assert!(e.contains("http.lag.notifier.url"), "{bad}: {e}");
        }
        let e = NotifierSettings::new("http://h/", "OK", 1000, "c", 1).unwrap_err();
        assert!(e.contains("http.lag.notifier.threshold"), "{e}");
    }

    #[tokio::test]
    async fn a_change_is_posted_to_a_real_http_server() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut got = Vec::new();
            let mut buf = [0u8; 4096];
            // Read the head, then the body its Content-Length announces.
            loop {
                let n = s.read(&mut buf).await.unwrap();
                got.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&got).to_string();
                if let Some(head_end) = text.find("\r\n\r\n") {
                    let length: usize = text[..head_end]
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length: ")
                                .map(|v| v.trim().parse().unwrap())
                        })
                        .unwrap();
                    if got.len() >= head_end + 4 + length {
                        break;
                    }
                }
            }
            s.write_all(b"HTTP/1.1 204 No Content\r\n\r\n")
                .await
                .unwrap();
            String::from_utf8(got).unwrap()
        });
        let mut s = settings(Status::Warn);
        s.url = format!("http://127.0.0.1:{port}/hook?from=vltava");
        let notifier = Notifier::start(s);
        notifier.observe(&[group("g1", Status::Err, 9)], 100);
        let request = tokio::time::timeout(Duration::from_secs(10), server)
            .await
            .unwrap()
            .unwrap();
        assert!(
            request.starts_with("POST /hook?from=vltava HTTP/1.1\r\n"),
            "{request}"
        );
        assert!(
            request.contains("content-type: application/json"),
            "{request}"
        );
        let body = &request[request.find("\r\n\r\n").unwrap() + 4..];
        let body: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(body["group"], "g1");
        assert_eq!(body["status"], "ERR");
        for _ in 0..100 {
            if notifier.stats.sent.load(Ordering::Relaxed) == 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(notifier.stats.sent.load(Ordering::Relaxed), 1);
        assert!(notifier
            .changes_for_test(&[group("g1", Status::Err, 9)], 200)
            .is_empty());
    }
}
