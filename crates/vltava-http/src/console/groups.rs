//! `/ui/groups`: the consumer groups this node coordinates, a page at a
//! time (`?page=`, `?q=` filters by id), with state, members, total lag
//! and Burrow's status. Burrow's rules are evaluated for the shown page's
//! groups only.

use std::collections::HashMap;
use std::fmt::Write;
use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::response::Response;
use vltava_group::GroupOffsets;

use super::html::{self, esc, url, Query, PER_PAGE};
use crate::lag::GroupLag;
use crate::Node;

/// One row of the list.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupRow {
    pub group: String,
    pub state: String,
    pub members: usize,
    pub partitions: usize,
    pub total_lag: i64,
    pub status: String,
    pub lag_history: Vec<f64>,
}

/// The groups whose id contains `filter` (any case), in id order.
pub fn matching<'a>(all: &'a [GroupOffsets], filter: &str) -> Vec<&'a GroupOffsets> {
    let filter = filter.to_lowercase();
    all.iter()
        .filter(|g| filter.is_empty() || g.group_id.to_lowercase().contains(&filter))
        .collect()
}

/// The row of one group from its evaluation.
pub fn row(g: &GroupOffsets, lag: &GroupLag, history: Vec<i64>) -> GroupRow {
    GroupRow {
        group: g.group_id.clone(),
        state: g.state.to_string(),
        members: g.members,
        partitions: g.offsets.len(),
        total_lag: lag.total_lag(),
        status: lag.status.name().to_string(),
        lag_history: history.into_iter().map(|v| v as f64).collect(),
    }
}

pub async fn handle(State(node): State<Arc<Node>>, RawQuery(raw): RawQuery) -> Response {
    let query = Query::parse(raw.as_deref());
    let (broker, _permit) = match super::begin(&node).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let all = broker.groups.read(|c| c.group_offsets()).await;
    let filter = query.get("q").unwrap_or("").to_string();
    let shown = matching(&all, &filter);
    let paging = html::paging(shown.len(), query.int("page").unwrap_or(1), PER_PAGE);
    let ends: HashMap<(String, i32), i64> = crate::metrics::log_ends(&broker);
    let now = broker.now_ms();
    let rows: Vec<GroupRow> = shown[paging.start..paging.end]
        .iter()
        .map(|g| {
            let lag = node.lag().evaluate(g, &ends, now);
            row(g, &lag, node.history.group(&g.group_id))
        })
        .collect();
    super::ok(render(&rows, &filter, &paging))
}

/// One page of the list; `rows` are that page's rows only.
pub fn render(rows: &[GroupRow], filter: &str, paging: &html::Paging) -> String {
    let mut body = String::new();
    let _ = write!(
        body,
        "<form method=\"get\" action=\"/ui/groups\"><input name=\"q\" placeholder=\"id contains\" value=\"{}\"><button>Filter</button></form>",
        esc(filter)
    );
    let base = format!("/ui/groups?q={}", url(filter));
    body.push_str(&html::pager(&base, paging));
    body.push_str(&html::table(
        &[
            "group",
            "state",
            "#members",
            "#partitions",
            "#total lag",
            "status",
            "lag (last samples)",
        ],
        rows.iter().map(|g| {
            vec![
                format!(
                    "<a href=\"/ui/groups/{}\">{}</a>",
                    url(&g.group),
                    esc(&g.group)
                ),
                format!(
                    "<span class=\"{}\">{}</span>",
                    html::status_class(&g.state),
                    esc(&g.state)
                ),
                g.members.to_string(),
                g.partitions.to_string(),
                g.total_lag.to_string(),
                format!(
                    "<span class=\"{}\">{}</span>",
                    html::status_class(&g.status),
                    esc(&g.status)
                ),
                html::sparkline(&g.lag_history),
            ]
        }),
    ));
    body.push_str(&html::pager(&base, paging));
    body.push_str("<p class=\"muted\">Groups coordinated by this node; lag counts the partitions hosted here (Burrow's rules, see docs/operations.md).</p>");
    html::page("Consumer groups", &body, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lag::Tracker;

    #[test]
    fn a_thousand_groups_render_one_page() {
        let all: Vec<GroupOffsets> = (0..1_000)
            .map(|i| GroupOffsets {
                group_id: format!("group-{i:04}"),
                state: "Stable",
                members: 2,
                offsets: vec![("t".into(), 0, 10, 1_000), ("t".into(), 1, 20, 1_000)],
            })
            .collect();
        let ends = HashMap::from([(("t".to_string(), 0), 15), (("t".to_string(), 1), 20)]);
        let tracker = Tracker::new(10);
        tracker.observe(&all, &ends);
        let started = std::time::Instant::now();
        let shown = matching(&all, "");
        let paging = html::paging(shown.len(), 10, PER_PAGE);
        let rows: Vec<GroupRow> = shown[paging.start..paging.end]
            .iter()
            .map(|g| row(g, &tracker.evaluate(g, &ends, 2_000), vec![5, 5]))
            .collect();
        let page = render(&rows, "", &paging);
        let took = started.elapsed();
        println!(
            "1,000 groups: page 10 evaluated and rendered in {took:?} ({} bytes)",
            page.len()
        );
        assert_eq!(page.matches("<tr>").count(), PER_PAGE + 1);
        assert!(page.contains("group-0900") && page.contains("group-0999"));
        assert!(!page.contains("group-0899"));
        assert!(page.contains("<td class=\"n\">5</td>"), "total lag");
        assert!(page.contains("page 10 of 10"));
        assert!(took < std::time::Duration::from_secs(1), "{took:?}");
    }

    #[test]
    fn group_ids_are_escaped_and_linked_encoded() {
        let rows = vec![GroupRow {
            group: "a/b <c>".into(),
            state: "Empty".into(),
            members: 0,
            partitions: 0,
            total_lag: 0,
            status: "OK".into(),
            lag_history: vec![],
        }];
        let page = render(&rows, "", &html::paging(1, 1, PER_PAGE));
        assert!(
            page.contains("href=\"/ui/groups/a%2Fb%20%3Cc%3E\">a/b &lt;c&gt;</a>"),
            "{page}"
        );
    }
}
