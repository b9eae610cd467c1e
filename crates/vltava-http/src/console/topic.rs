//! `/ui/topics/{topic}`: one topic's partitions (leader, replicas, ISR, and
//! for those hosted here the log's offsets and size) and its config
//! overrides.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::Response;

use super::html::{self, esc, url};
use crate::Node;

/// The log of a partition this node hosts.
#[derive(Debug, Clone, PartialEq)]
pub struct LocalLog {
    pub log_start: i64,
    pub log_end: i64,
    pub high_watermark: i64,
    pub size: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PartitionRow {
    pub partition: i32,
    pub leader: i32,
    pub leader_epoch: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    pub local: Option<LocalLog>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TopicView {
    pub name: String,
    pub id: String,
    pub node_id: i32,
    pub partitions: Vec<PartitionRow>,
    pub configs: BTreeMap<String, String>,
}

pub async fn handle(State(node): State<Arc<Node>>, Path(topic): Path<String>) -> Response {
    let (broker, _permit) = match super::begin(&node).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let view = {
        let image = broker.metadata.image();
        let Some(t) = image.topic(&topic) else {
            return super::not_found(&format!("There is no topic {topic}."));
        };
        TopicView {
            name: t.name.clone(),
            id: t.id.to_string(),
            node_id: broker.node_id,
            configs: (*image.topic_configs(&topic)).clone(),
            partitions: t
                .partitions
                .iter()
                .enumerate()
                .map(|(i, p)| {
                    let local = broker.replicas.get(&topic, i as i32).map(|r| {
                        let log = r.log();
                        LocalLog {
                            log_start: log.log_start_offset(),
                            log_end: log.log_end_offset(),
                            high_watermark: r.high_watermark(),
                            size: log.size_in_bytes(),
                        }
                    });
                    PartitionRow {
                        partition: i as i32,
                        leader: p.leader,
                        leader_epoch: p.leader_epoch,
                        replicas: p.replicas.clone(),
                        isr: p.isr.clone(),
                        local,
                    }
                })
                .collect(),
        }
    };
    super::ok(render(&view))
}

pub fn render(t: &TopicView) -> String {
    let mut body = String::new();
    let _ = write!(
        body,
        "<p>Topic id <code>{}</code>; {} partitions.</p><h2>Partitions</h2>",
        esc(&t.id),
        t.partitions.len()
    );
    body.push_str(&html::table(
        &[
            "#partition",
            "#leader",
            "replicas",
            "ISR",
            "#log start",
            "#high watermark",
            "#log end",
            "#size",
            "messages",
        ],
        t.partitions.iter().map(|p| {
            let leader = if p.leader < 0 {
                "<span class=\"err\">offline</span>".to_string()
            } else {
                format!("{} <span class=\"muted\">(epoch {})</span>", p.leader, p.leader_epoch)
            };
            let isr = if p.isr.len() < p.replicas.len() {
                format!("<span class=\"warn\">{}</span>", html::ids(&p.isr))
            } else {
                html::ids(&p.isr)
            };
            let (start, hw, end, size, browse) = match &p.local {
                Some(l) => (
                    l.log_start.to_string(),
                    l.high_watermark.to_string(),
                    l.log_end.to_string(),
                    html::bytes(l.size as f64),
                    format!(
                        "<a href=\"/ui/topics/{}/{}\">browse</a>",
                        url(&t.name),
                        p.partition
                    ),
                ),
                None => {
                    let dash = "<span class=\"muted\">&ndash;</span>".to_string();
                    let elsewhere = if p.leader >= 0 {
                        format!(
                            "<span class=\"muted\">not hosted on node {}: see node {}'s console</span>",
                            t.node_id, p.leader
                        )
                    } else {
                        "<span class=\"muted\">not hosted here</span>".into()
                    };
                    (dash.clone(), dash.clone(), dash.clone(), dash, elsewhere)
                }
            };
            vec![
                p.partition.to_string(),
                leader,
                html::ids(&p.replicas),
                isr,
                start,
                hw,
                end,
                size,
                browse,
            ]
        }),
    ));
    body.push_str("<h2>Configs</h2>");
    if t.configs.is_empty() {
        body.push_str("<p class=\"muted\">No overrides: every config is the broker's default.</p>");
    } else {
        body.push_str(
            "<p class=\"muted\">The topic's overrides; the rest are the broker's defaults.</p>",
        );
        body.push_str(&html::table(
            &["config", "value"],
            t.configs.iter().map(|(k, v)| vec![esc(k), esc(v)]),
        ));
    }
    html::page(&format!("Topic {}", t.name), &body, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_here_and_elsewhere() {
        let view = TopicView {
            name: "orders".into(),
            id: "abc".into(),
            node_id: 1,
            configs: BTreeMap::from([("cleanup.policy".into(), "compact<>".into())]),
            partitions: vec![
                PartitionRow {
                    partition: 0,
                    leader: 1,
                    leader_epoch: 4,
                    replicas: vec![1, 2],
                    isr: vec![1],
                    local: Some(LocalLog {
                        log_start: 5,
                        log_end: 17,
                        high_watermark: 16,
                        size: 2048,
                    }),
                },
                PartitionRow {
                    partition: 1,
                    leader: 2,
                    leader_epoch: 0,
                    replicas: vec![2, 3],
                    isr: vec![2, 3],
                    local: None,
                },
            ],
        };
        let page = render(&view);
        assert!(page.contains("<td class=\"n\">17</td>"));
        assert!(page.contains("href=\"/ui/topics/orders/0\""));
        assert!(page.contains("see node 2&#39;s console") || page.contains("see node 2's console"));
        assert!(page.contains("compact&lt;&gt;"));
        assert!(page.contains("<span class=\"warn\">1</span>"));
    }
}
