//! The web console at `/ui`: read-only pages rendered on the server from
//! the node's own state, each a self-contained HTML document (inline
//! stylesheet, inline SVG, a few lines of refresh script), so there is no
//! frontend build and nothing is fetched at run time.
//!
//! One file per page; `html` holds what they share and `history` the
//! sampled rates and lag the "per second" and "over time" figures need.
//! Every handler takes one of the node's scrape permits (so the console
//! and `/metrics` together never take more than that many runtime
//! threads), copies what its page needs out of the broker, and renders
//! from the copy with no lock held.

pub mod group;
pub mod groups;
pub mod history;
pub mod html;
pub mod messages;
pub mod overview;
pub mod topic;
pub mod topics;

use std::sync::Arc;

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tokio::sync::SemaphorePermit;
use vltava_broker::Broker;

use crate::Node;

/// The console's routes, merged into the node's router.
pub fn routes() -> Router<Arc<Node>> {
    Router::new()
        .route("/ui", get(overview::handle))
        .route("/ui/", get(overview::handle))
        .route("/ui/topics", get(topics::handle))
        .route("/ui/topics/{topic}", get(topic::handle))
        .route("/ui/topics/{topic}/{partition}", get(messages::handle))
        .route("/ui/groups", get(groups::handle))
        .route("/ui/groups/{group}", get(group::handle))
}

/// The broker and a scrape permit, or the answer to give while the broker
/// is still opening.
async fn begin(node: &Node) -> Result<(Arc<Broker>, SemaphorePermit<'_>), Response> {
    let Some(broker) = node.broker().cloned() else {
        return Err(crate::starting());
    };
    match node.scrapes.acquire().await {
        Ok(permit) => Ok((broker, permit)),
        Err(_) => Err(crate::starting()),
    }
}

fn html_response(status: StatusCode, body: String) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            // The pages show live state: never serve one from a cache.
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response()
}

fn ok(body: String) -> Response {
    html_response(StatusCode::OK, body)
}

fn not_found(what: &str) -> Response {
    html_response(
        StatusCode::NOT_FOUND,
        html::page("Not found", &format!("<p>{}</p>", html::esc(what)), false),
    )
}
