//! `/ui`: the cluster at a glance: its brokers, the metadata quorum and its
//! active controller, the version, and this node's throughput now.

use std::fmt::Write;
use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;

use super::history::Rates;
use super::html::{self, esc};
use crate::Node;

/// One registered broker as shown.
#[derive(Debug, Clone, PartialEq)]
pub struct BrokerRow {
    pub id: i32,
    pub endpoints: Vec<String>,
    pub rack: Option<String>,
    pub fenced: bool,
    pub shutting_down: bool,
}

/// What the overview shows, copied out of the broker.
#[derive(Debug, Clone, PartialEq)]
pub struct Overview {
    pub cluster_id: String,
    pub node_id: i32,
    pub version: &'static str,
    pub brokers: Vec<BrokerRow>,
    pub quorum_role: String,
    pub quorum_epoch: String,
    pub quorum_leader: Option<i32>,
    pub quorum_high_watermark: String,
    pub quorum_caught_up: bool,
    pub metadata_offset: i64,
    pub topics: usize,
    pub partitions: usize,
    pub offline_partitions: usize,
    pub hosted_partitions: usize,
    pub leading_partitions: usize,
    /// This node's rates, oldest first.
    pub rates: Vec<Rates>,
}

pub async fn handle(State(node): State<Arc<Node>>) -> Response {
    let (broker, _permit) = match super::begin(&node).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let image = broker.metadata.image();
    let quorum = broker.controller.quorum().status().borrow().clone();
    let hosted = broker.replicas.all();
    let topics = image.topics();
    let overview = Overview {
        cluster_id: broker.cluster_id.clone(),
        node_id: broker.node_id,
        version: env!("CARGO_PKG_VERSION"),
        brokers: image
            .brokers
            .values()
            .map(|b| BrokerRow {
                id: b.id,
                endpoints: b
                    .endpoints
                    .iter()
                    .map(|e| format!("{}://{}:{}", e.listener, e.host, e.port))
                    .collect(),
                rack: b.rack.clone(),
                fenced: b.fenced,
                shutting_down: b.in_controlled_shutdown,
            })
            .collect(),
        quorum_role: format!("{:?}", quorum.role),
        quorum_epoch: quorum.epoch.to_string(),
        quorum_leader: quorum.leader,
        quorum_high_watermark: quorum.high_watermark.to_string(),
        quorum_caught_up: quorum.caught_up,
        metadata_offset: image.offset,
        topics: topics.len(),
        partitions: topics.iter().map(|t| t.partitions.len()).sum(),
        offline_partitions: topics
            .iter()
            .flat_map(|t| t.partitions.iter())
            .filter(|p| !p.has_leader())
            .count(),
        hosted_partitions: hosted.len(),
        leading_partitions: hosted.iter().filter(|p| p.is_leader()).count(),
        rates: node.history.node(),
    };
    drop(topics);
    drop(image);
    super::ok(render(&overview))
}

fn card(label: &str, value: &str) -> String {
    format!(
        "<div class=\"card\"><div class=\"muted\">{}</div><div class=\"v\">{value}</div></div>",
        esc(label)
    )
}

/// The overview page.
pub fn render(o: &Overview) -> String {
    let mut body = String::new();
    let _ = write!(
        body,
        "<p>Cluster <code>{}</code>, served by node <b>{}</b>, Vltava {}.</p>",
        esc(&o.cluster_id),
        o.node_id,
        esc(o.version)
    );
    let last = o.rates.last();
    let series =
        |f: fn(&Rates) -> f32| -> Vec<f64> { o.rates.iter().map(|r| f(r) as f64).collect() };
    body.push_str("<h2>Throughput of this node now</h2><div class=\"cards\">");
    type Pick = fn(&Rates) -> f32;
    let figures: [(&str, Pick, bool); 4] = [
        ("bytes in / s", |r| r.bytes_in, true),
        ("messages in / s", |r| r.messages_in, false),
        ("bytes out / s", |r| r.bytes_out, true),
        ("messages out / s", |r| r.messages_out, false),
    ];
    for (label, pick, is_bytes) in figures {
        let value = match last {
            None => "&ndash;".to_string(),
            Some(r) if is_bytes => html::bytes(pick(r) as f64),
            Some(r) => html::rate(Some(pick(r) as f64)),
        };
        body.push_str(&card(
            label,
            &format!("{value}<br>{}", html::sparkline(&series(pick))),
        ));
    }
    body.push_str("</div><p class=\"muted\">Produce to partitions this node leads, and fetches by consumers from it; every node's console shows its own. Rates are over the last sample interval; the lines span the last samples.</p>");

    let controller = match o.quorum_leader {
        Some(id) => format!("node {id}"),
        None => "none known".into(),
    };
    let _ = write!(
        body,
        "<h2>Metadata quorum</h2><div class=\"cards\">{}{}{}{}{}</div>",
        card("active controller", &esc(&controller)),
        card("this node's role", &esc(&o.quorum_role)),
        card("epoch", &esc(&o.quorum_epoch)),
        card("high watermark", &esc(&o.quorum_high_watermark)),
        card(
            "caught up",
            if o.quorum_caught_up {
                "yes"
            } else {
                "<span class=\"warn\">no</span>"
            }
        ),
    );
    let _ = write!(
        body,
        "<h2>Metadata</h2><div class=\"cards\">{}{}{}{}{}</div>",
        card("topics", &o.topics.to_string()),
        card("partitions", &o.partitions.to_string()),
        card(
            "offline partitions",
            &if o.offline_partitions > 0 {
                format!("<span class=\"err\">{}</span>", o.offline_partitions)
            } else {
                "0".into()
            }
        ),
        card(
            "hosted here (leading)",
            &format!("{} ({})", o.hosted_partitions, o.leading_partitions)
        ),
        card("metadata offset", &o.metadata_offset.to_string()),
    );
    let _ = write!(body, "<h2>Brokers ({})</h2>", o.brokers.len());
    body.push_str(&html::table(
        &["#id", "endpoints", "rack", "state"],
        o.brokers.iter().map(|b| {
            let state = if b.fenced {
                "<span class=\"err\">fenced</span>"
            } else if b.shutting_down {
                "<span class=\"warn\">controlled shutdown</span>"
            } else {
                "<span class=\"ok\">active</span>"
            };
            let mut id = b.id.to_string();
            if b.id == o.node_id {
                id.push_str(" (this node)");
            }
            if Some(b.id) == o.quorum_leader {
                id.push_str(" (controller)");
            }
            vec![
                esc(&id),
                esc(&b.endpoints.join(", ")),
                esc(b.rack.as_deref().unwrap_or("")),
                state.to_string(),
            ]
        }),
    ));
    html::page("Cluster", &body, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overview_shows_brokers_controller_and_rates() {
        let o = Overview {
            cluster_id: "c<1>".into(),
            node_id: 1,
            version: "9.9.9",
            brokers: vec![BrokerRow {
                id: 1,
                endpoints: vec!["PLAINTEXT://127.0.0.1:9092".into()],
                rack: None,
                fenced: false,
                shutting_down: false,
            }],
            quorum_role: "Leader".into(),
            quorum_epoch: "3".into(),
            quorum_leader: Some(1),
            quorum_high_watermark: "42".into(),
            quorum_caught_up: true,
            metadata_offset: 41,
            topics: 2,
            partitions: 5,
            offline_partitions: 0,
            hosted_partitions: 5,
            leading_partitions: 5,
            rates: vec![Rates {
                messages_in: 12.0,
                bytes_in: 2048.0,
                ..Rates::default()
            }],
        };
        let page = render(&o);
        assert!(page.contains("c&lt;1&gt;"));
        assert!(page.contains("node 1"));
        assert!(page.contains("1 (this node) (controller)"));
        assert!(page.contains("2.0 KiB"));
        assert!(page.contains(">12.0<"));
    }
}
