//! `/ui/topics`: every topic, a page at a time (`?page=`, `?q=` filters by
//! name), with its partitions, replication factor, size here and rates.
//!
//! Only the shown page's rows are built in full: the names, partition
//! counts and replication factors come from the metadata image for all
//! (cheap), sizes and rate histories are looked up for the page's rows.

use std::collections::HashMap;
use std::fmt::Write;
use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::response::Response;

use super::history::Rates;
use super::html::{self, esc, url, Query, PER_PAGE};
use crate::Node;

/// A topic as the list needs it before paging.
#[derive(Debug, Clone, PartialEq)]
pub struct TopicSummary {
    pub name: String,
    pub partitions: usize,
    pub replication: usize,
}

/// What the page's rows add: this node's bytes of the topic and how many
/// of its partitions are here, and the sampled rates.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TopicLocal {
    pub size: u64,
    pub hosted: usize,
    pub rates: Vec<Rates>,
}

/// The topics matching `filter` (a substring of the name, any case), in
/// name order: the list the pages slice.
pub fn matching<'a>(all: &'a [TopicSummary], filter: &str) -> Vec<&'a TopicSummary> {
    let filter = filter.to_lowercase();
    all.iter()
        .filter(|t| filter.is_empty() || t.name.to_lowercase().contains(&filter))
        .collect()
}

pub async fn handle(State(node): State<Arc<Node>>, RawQuery(raw): RawQuery) -> Response {
    let query = Query::parse(raw.as_deref());
    let (broker, _permit) = match super::begin(&node).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let all: Vec<TopicSummary> = {
        let image = broker.metadata.image();
        image
            .topics()
            .into_iter()
            .map(|t| TopicSummary {
                name: t.name.clone(),
                partitions: t.partitions.len(),
                replication: t.partitions.first().map_or(0, |p| p.replicas.len()),
            })
            .collect()
    };
    let filter = query.get("q").unwrap_or("").to_string();
    let page = query.int("page").unwrap_or(1);
    let shown = matching(&all, &filter);
    let paging = html::paging(shown.len(), page, PER_PAGE);
    let rows = &shown[paging.start..paging.end];
    let wanted: std::collections::HashSet<&str> = rows.iter().map(|t| t.name.as_str()).collect();
    let mut locals: HashMap<String, TopicLocal> = HashMap::new();
    for p in broker.replicas.all() {
        if wanted.contains(p.topic.as_str()) {
            let l = locals.entry(p.topic.clone()).or_default();
            l.size += p.size_in_bytes();
            l.hosted += 1;
        }
    }
    for (name, rates) in node.history.topics(wanted.iter().copied()) {
        locals.entry(name).or_default().rates = rates;
    }
    super::ok(render(&shown, &filter, page, &locals))
}

/// One page of the list: `shown` is every matching topic; only the rows
/// of page `page` are rendered.
pub fn render(
    shown: &[&TopicSummary],
    filter: &str,
    page: i64,
    locals: &HashMap<String, TopicLocal>,
) -> String {
    let paging = html::paging(shown.len(), page, PER_PAGE);
    let mut body = String::new();
    let _ = write!(
        body,
        "<form method=\"get\" action=\"/ui/topics\"><input name=\"q\" placeholder=\"name contains\" value=\"{}\"><button>Filter</button></form>",
        esc(filter)
    );
    let base = format!("/ui/topics?q={}", url(filter));
    body.push_str(&html::pager(&base, &paging));
    let none = TopicLocal::default();
    body.push_str(&html::table(
        &[
            "topic",
            "#partitions",
            "#replication",
            "#size here",
            "#messages in/s",
            "#bytes in/s",
            "#messages out/s",
            "messages in (last samples)",
        ],
        shown[paging.start..paging.end].iter().map(|t| {
            let l = locals.get(&t.name).unwrap_or(&none);
            let last = l.rates.last();
            let size = if l.hosted == 0 {
                "<span class=\"muted\">not here</span>".to_string()
            } else {
                html::bytes(l.size as f64)
            };
            let spark: Vec<f64> = l.rates.iter().map(|r| r.messages_in as f64).collect();
            vec![
                format!(
                    "<a href=\"/ui/topics/{}\">{}</a>",
                    url(&t.name),
                    esc(&t.name)
                ),
                t.partitions.to_string(),
                t.replication.to_string(),
                size,
                html::rate(last.map(|r| r.messages_in as f64)),
                last.map_or("&ndash;".into(), |r| html::bytes(r.bytes_in as f64)),
                html::rate(last.map(|r| r.messages_out as f64)),
                html::sparkline(&spark),
            ]
        }),
    ));
    body.push_str(&html::pager(&base, &paging));
    body.push_str("<p class=\"muted\">Sizes and rates are this node's (the partitions it hosts); a topic led elsewhere shows its figures on that node's console.</p>");
    html::page("Topics", &body, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn synthetic(n: usize) -> Vec<TopicSummary> {
        (0..n)
            .map(|i| TopicSummary {
                name: format!("topic-{i:05}"),
                partitions: 1 + i % 12,
                replication: 3,
            })
            .collect()
    }

    #[test]
    fn ten_thousand_topics_render_one_page_of_rows() {
        let all = synthetic(10_000);
        let locals = HashMap::from([(
            "topic-00150".to_string(),
            TopicLocal {
                size: 4096,
                hosted: 2,
                rates: vec![
                    Rates {
                        messages_in: 3.0,
                        ..Rates::default()
                    };
                    60
                ],
            },
        )]);
        let started = std::time::Instant::now();
        let shown = matching(&all, "");
        let page = render(&shown, "", 2, &locals);
        let took = started.elapsed();
        println!(
            "10,000 topics: page 2 rendered in {took:?} ({} bytes)",
            page.len()
        );
        assert_eq!(
            page.matches("<tr>").count(),
            PER_PAGE + 1,
            "header + one page"
        );
        assert!(page.contains("topic-00100") && page.contains("topic-00199"));
        assert!(!page.contains("topic-00099") && !page.contains("topic-00200"));
        assert!(page.contains("page 2 of 100"));
        assert!(page.contains("4.0 KiB"));
        assert!(took < std::time::Duration::from_secs(1), "{took:?}");
    }

    #[test]
    fn the_filter_matches_names_and_is_escaped() {
        let mut all = synthetic(300);
        all.push(TopicSummary {
            name: "Orders<b>".into(),
            partitions: 3,
            replication: 1,
        });
        let shown = matching(&all, "orders");
        assert_eq!(shown.len(), 1);
        let page = render(&shown, "orders\"><x>", 1, &HashMap::new());
        assert!(page.contains("Orders&lt;b&gt;"));
        assert!(page.contains("value=\"orders&quot;&gt;&lt;x&gt;\""));
        assert!(!page.contains("<x>"));
        assert_eq!(matching(&all, "topic-001").len(), 100);
    }
}
