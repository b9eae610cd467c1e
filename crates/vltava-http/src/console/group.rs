//! `/ui/groups/{group}`: one consumer group: per partition its committed
//! offset, the log end (high watermark), the lag, Burrow's status and the
//! member it is assigned to; and the group's total lag over the sampled
//! minutes as a plot.

use std::collections::HashMap;
use std::fmt::Write;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::Response;
use vltava_protocol::messages::ConsumerProtocolAssignment;
use vltava_protocol::Message;

use super::html::{self, esc, url};
use crate::Node;

#[derive(Debug, Clone, PartialEq)]
pub struct PartitionRow {
    pub topic: String,
    pub partition: i32,
    pub committed: i64,
    /// `None` when the partition is not hosted here (no log end known).
    pub log_end: Option<i64>,
    pub lag: Option<i64>,
    pub status: Option<String>,
    pub owner: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct GroupView {
    pub group: String,
    pub state: String,
    pub protocol: String,
    pub members: Vec<String>,
    pub status: String,
    pub total_lag: i64,
    pub partitions: Vec<PartitionRow>,
    pub lag_history: Vec<i64>,
}

/// The topic-partitions a consumer's assignment names: an i16 version and
/// a `ConsumerProtocolAssignment` in it (newer versions read as our
/// newest, since the format only grows at the end). Not a consumer's
/// assignment: nothing.
pub fn assigned(bytes: &bytes::Bytes) -> Vec<(String, i32)> {
    if bytes.len() < 2 {
        return Vec::new();
    }
    let version = i16::from_be_bytes([bytes[0], bytes[1]]);
    if version < ConsumerProtocolAssignment::VERSIONS.min {
        return Vec::new();
    }
    let mut rest = bytes.slice(2..);
    match ConsumerProtocolAssignment::decode(
        &mut rest,
        version.min(ConsumerProtocolAssignment::VERSIONS.max),
    ) {
        Ok(a) => a
            .assigned_partitions
            .into_iter()
            .flat_map(|t| {
                let topic = t.topic;
                t.partitions.into_iter().map(move |p| (topic.clone(), p))
            })
            .collect(),
        Err(_) => Vec::new(),
    }
}

pub async fn handle(State(node): State<Arc<Node>>, Path(group): Path<String>) -> Response {
    let (broker, _permit) = match super::begin(&node).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let (offsets, described) = broker
        .groups
        .read(|c| {
            let offsets = c.group_offsets().into_iter().find(|g| g.group_id == group);
            (offsets, c.describe_group(&group).ok())
        })
        .await;
    let Some(offsets) = offsets else {
        return super::not_found(&format!(
            "Group {group} is not coordinated by this node (or does not exist)."
        ));
    };
    let mut owners: HashMap<(String, i32), String> = HashMap::new();
    let mut members = Vec::new();
    let mut protocol = String::new();
    if let Some(d) = described {
        protocol = format!("{} {}", d.protocol_type, d.protocol);
        for m in d.members {
            let who = format!("{} ({}, {})", m.member_id, m.client_id, m.client_host);
            if d.protocol_type == "consumer" {
                for tp in assigned(&m.assignment) {
                    owners.insert(tp, who.clone());
                }
            }
            members.push(who);
        }
    }
    let ends = crate::metrics::log_ends(&broker);
    let lag = node.lag().evaluate(&offsets, &ends, broker.now_ms());
    let evaluated: HashMap<(&str, i32), &crate::lag::PartitionLag> = lag
        .partitions
        .iter()
        .map(|p| ((p.topic.as_str(), p.partition), p))
        .collect();
    let partitions = offsets
        .offsets
        .iter()
        .map(|(topic, partition, committed, _)| {
            let e = evaluated.get(&(topic.as_str(), *partition));
            PartitionRow {
                topic: topic.clone(),
                partition: *partition,
                committed: *committed,
                log_end: ends.get(&(topic.clone(), *partition)).copied(),
                lag: e.map(|p| p.current_lag),
                status: e.map(|p| p.status.name().to_string()),
                owner: owners.get(&(topic.clone(), *partition)).cloned(),
            }
        })
        .collect();
    let view = GroupView {
        group: offsets.group_id.clone(),
        state: offsets.state.to_string(),
        protocol,
        members,
        status: lag.status.name().to_string(),
        total_lag: lag.total_lag(),
        partitions,
        lag_history: node.history.group(&offsets.group_id),
    };
    super::ok(render(&view))
}

pub fn render(g: &GroupView) -> String {
    let mut body = String::new();
    let _ = write!(
        body,
        "<div class=\"cards\"><div class=\"card\"><div class=\"muted\">state</div><div class=\"v {}\">{}</div></div>\
<div class=\"card\"><div class=\"muted\">Burrow status</div><div class=\"v {}\">{}</div></div>\
<div class=\"card\"><div class=\"muted\">total lag</div><div class=\"v\" id=\"total-lag\">{}</div></div>\
<div class=\"card\"><div class=\"muted\">members</div><div class=\"v\">{}</div></div></div>",
        html::status_class(&g.state),
        esc(&g.state),
        html::status_class(&g.status),
        esc(&g.status),
        g.total_lag,
        g.members.len()
    );
    let points: Vec<f64> = g.lag_history.iter().map(|&v| v as f64).collect();
    body.push_str(&html::plot(&points, "total lag over the last samples"));
    body.push_str("<h2>Partitions</h2>");
    let dash = || "<span class=\"muted\">&ndash;</span>".to_string();
    body.push_str(&html::table(
        &[
            "topic",
            "#partition",
            "#committed offset",
            "#log end offset",
            "#lag",
            "status",
            "member",
        ],
        g.partitions.iter().map(|p| {
            vec![
                format!(
                    "<a href=\"/ui/topics/{}\">{}</a>",
                    url(&p.topic),
                    esc(&p.topic)
                ),
                p.partition.to_string(),
                p.committed.to_string(),
                p.log_end.map_or_else(dash, |v| v.to_string()),
                p.lag.map_or_else(dash, |v| v.to_string()),
                p.status.as_deref().map_or_else(dash, |s| {
                    format!(
                        "<span class=\"{}\">{}</span>",
                        html::status_class(s),
                        esc(s)
                    )
                }),
                p.owner.as_deref().map_or_else(dash, esc),
            ]
        }),
    ));
    body.push_str("<p class=\"muted\">Log end is the high watermark; partitions not hosted on this node show a dash (their leader's console has them).</p>");
    if !g.members.is_empty() {
        let _ = write!(
            body,
            "<h2>Members</h2><p class=\"muted\">protocol {}</p><ul>",
            esc(&g.protocol)
        );
        for m in &g.members {
            let _ = write!(body, "<li>{}</li>", esc(m));
        }
        body.push_str("</ul>");
    }
    html::page(&format!("Group {}", g.group), &body, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use vltava_protocol::messages::consumer_protocol_assignment::TopicPartition;

    #[test]
    fn assignments_decode_and_junk_is_nothing() {
        let a = ConsumerProtocolAssignment {
            assigned_partitions: vec![TopicPartition {
                topic: "t".into(),
                partitions: vec![0, 2],
            }],
            user_data: None,
        };
        let mut buf = bytes::BytesMut::new();
        buf.extend_from_slice(&3i16.to_be_bytes());
        a.encode(&mut buf, 3).unwrap();
        assert_eq!(
            assigned(&buf.freeze()),
            vec![("t".into(), 0), ("t".into(), 2)]
        );
        assert!(assigned(&bytes::Bytes::from_static(b"\x00")).is_empty());
        assert!(assigned(&bytes::Bytes::from_static(b"\x00\x00\xff")).is_empty());
    }

    #[test]
    fn the_group_page_shows_lag_owner_and_plot() {
        let view = GroupView {
            group: "g<1>".into(),
            state: "Stable".into(),
            protocol: "consumer range".into(),
            members: vec!["m-1 (client, /127.0.0.1)".into()],
            status: "WARN".into(),
            total_lag: 7,
            partitions: vec![
                PartitionRow {
                    topic: "t".into(),
                    partition: 0,
                    committed: 3,
                    log_end: Some(10),
                    lag: Some(7),
                    status: Some("WARN".into()),
                    owner: Some("m-1 (client, /127.0.0.1)".into()),
                },
                PartitionRow {
                    topic: "t".into(),
                    partition: 1,
                    committed: 0,
                    log_end: None,
                    lag: None,
                    status: None,
                    owner: None,
                },
            ],
            lag_history: vec![1, 4, 7],
        };
        let page = render(&view);
        assert!(page.contains("Group g&lt;1&gt;"));
        assert!(page.contains("id=\"total-lag\">7<"));
        assert!(
            page.contains("<td class=\"n\">10</td><td class=\"n\">7</td>"),
            "{page}"
        );
        assert!(page.contains("m-1 (client, /127.0.0.1)"));
        assert!(page.contains("max 7, 3 samples"));
    }
}
