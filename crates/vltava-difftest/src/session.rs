//! One run of one case against one broker: the requests it sends and the
//! transcript of normalised answers it leaves.

use std::collections::HashMap;
use std::fmt::Debug;
use std::ops::RangeInclusive;
use std::time::{Duration, Instant};

use vltava_client::protocol::{ApiKey, Request, VersionRange};
use vltava_client::{Connection, ConnectionConfig, Error};

use crate::normalise::Normaliser;
use crate::tree::{self, Value};

/// How long an answer with a retriable error is asked again.
const RETRY_FOR: Duration = Duration::from_secs(5);

/// Errors a client retries because the broker is not ready yet: not the
/// leader (yet), coordinator loading or elsewhere, a transaction still
/// completing.
const RETRIABLE: &[i16] = &[5, 6, 14, 15, 16, 51];

/// Whether any error code in the answer is one of [`RETRIABLE`].
fn retriable(v: &Value) -> bool {
    match v {
        Value::Struct(fields) => fields.iter().any(|(name, value)| match value {
            Value::Atom(a) if name.ends_with("error_code") => {
                a.parse::<i16>().is_ok_and(|c| RETRIABLE.contains(&c))
            }
            other => retriable(other),
        }),
        Value::List(items) => items.iter().any(retriable),
        _ => false,
    }
}

/// What a step left in the transcript.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// The normalised answer.
    Answer(Value),
    /// No answer: the broker closed the connection, timed out, or sent
    /// what could not be decoded. Only the kind of failure is kept.
    Failed(String),
}

#[derive(Clone, Debug)]
pub struct Step {
    pub label: String,
    pub outcome: Outcome,
}

/// The versions of every API both brokers (and this client) speak.
#[derive(Clone, Debug, Default)]
pub struct CommonVersions(pub HashMap<i16, VersionRange>);

impl CommonVersions {
    pub fn get(&self, api: ApiKey) -> Option<VersionRange> {
        self.0.get(&(api as i16)).copied()
    }
}

pub struct Session {
    /// "kafka" or "vltava".
    pub target: &'static str,
    bootstrap: String,
    conn: Option<Connection>,
    versions: CommonVersions,
    run_id: String,
    norm: Normaliser,
    pub steps: Vec<Step>,
}

impl Session {
    pub fn new(
        target: &'static str,
        bootstrap: &str,
        versions: CommonVersions,
        run_id: &str,
    ) -> Session {
        Session {
            target,
            bootstrap: bootstrap.to_string(),
            conn: None,
            versions,
            run_id: run_id.to_string(),
            norm: Normaliser::default(),
            steps: Vec::new(),
        }
    }

    /// A topic, group or transactional id unique to this run: the same on
    /// both brokers (names are compared), different from earlier runs
    /// against the same Kafka.
    pub fn name(&self, base: &str) -> String {
        format!("{base}-{}", self.run_id)
    }

    /// The versions of `R` both brokers speak (empty when none).
    pub fn versions<R: Request>(&self) -> RangeInclusive<i16> {
        match self.versions.get(R::API_KEY) {
            Some(r) => r.min..=r.max,
            #[allow(clippy::reversed_empty_ranges)]
            None => 0..=-1,
        }
    }

    /// The newest version of `R` both brokers speak.
    pub fn latest<R: Request>(&self) -> i16 {
        *self.versions::<R>().end()
    }

    /// The oldest, the newest, and one between them when there is one:
    /// the versions a case runs in when every version would be too many.
    pub fn old_and_new<R: Request>(&self) -> Vec<i16> {
        let r = self.versions::<R>();
        let (lo, hi) = (*r.start(), *r.end());
        let mut out = vec![lo];
        if hi - lo >= 2 {
            out.push(lo + (hi - lo) / 2);
        }
        if hi > lo {
            out.push(hi);
        }
        out.retain(|v| r.contains(v));
        out
    }

    async fn connection(&mut self) -> Result<&mut Connection, Error> {
        if self.conn.as_ref().is_none_or(|c| c.is_broken()) {
            let config = ConnectionConfig {
                client_id: Some("difftest".into()),
                request_timeout: Duration::from_secs(20),
                ..Default::default()
            };
            self.conn = Some(Connection::connect(&self.bootstrap, config).await?);
        }
        Ok(self.conn.as_mut().expect("just connected"))
    }

    async fn exchange<R: Request>(&mut self, req: &R, version: i16) -> Result<R::Response, Error> {
        self.connection().await?.send_version(req, version).await
    }

    /// Sends `req` in the newest common version and records the answer.
    pub async fn send<R: Request>(&mut self, label: &str, req: &R) -> Option<R::Response> {
        let v = self.latest::<R>();
        self.send_v(label, req, v).await
    }

    /// Sends `req` in `version` and records the answer under `label vN`.
    /// A version one of the brokers does not speak is not sent (the
    /// ApiVersions case compares the ranges themselves).
    pub async fn send_v<R: Request>(
        &mut self,
        label: &str,
        req: &R,
        version: i16,
    ) -> Option<R::Response> {
        if !self.versions::<R>().contains(&version) {
            return None;
        }
        let label = format!("{label} v{version}");
        // An answer with a retriable error is asked again for a while, as
        // a client would: such errors say the broker is not ready yet
        // (Kafka's brokers learn of leaders and coordinators a moment
        // after its controller), and nothing was done. One that persists
        // is compared like any answer.
        let deadline = Instant::now() + RETRY_FOR;
        loop {
            let result = self.exchange(req, version).await;
            let again = match &result {
                Ok(answer) => tree::parse(&format!("{answer:?}")).is_ok_and(|v| retriable(&v)),
                Err(_) => false,
            };
            if !again || Instant::now() >= deadline {
                self.record(label, &result);
                return result.ok();
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Sends `req` in the newest common version without recording it: set-up
    /// whose answer is checked by a later step.
    pub async fn setup<R: Request>(&mut self, req: &R) -> Option<R::Response> {
        let v = self.latest::<R>();
        self.exchange(req, v).await.ok()
    }

    /// [`setup`](Self::setup) in `version`.
    pub async fn setup_v<R: Request>(&mut self, req: &R, version: i16) -> Option<R::Response> {
        self.exchange(req, version).await.ok()
    }

    /// Sends `req` until `done` holds for the answer or `within` passes, and
    /// records the last answer: for what becomes true only after a while on
    /// either broker (a coordinator loading, metadata propagating).
    pub async fn until<R: Request>(
        &mut self,
        label: &str,
        req: &R,
        within: Duration,
        done: impl Fn(&R::Response) -> bool,
    ) -> Option<R::Response> {
        let v = self.latest::<R>();
        let deadline = Instant::now() + within;
        loop {
            let result = self.exchange(req, v).await;
            let finished = result.as_ref().is_ok_and(&done);
            if finished || Instant::now() >= deadline {
                self.record(format!("{label} v{v}"), &result);
                return result.ok();
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Records a value the case derived (a count, a flag) as a step.
    pub fn note(&mut self, label: &str, value: impl Debug) {
        self.record_value(label.to_string(), &format!("{value:?}"));
    }

    fn record<T: Debug>(&mut self, label: String, result: &Result<T, Error>) {
        match result {
            Ok(answer) => self.record_value(label, &format!("{answer:?}")),
            Err(e) => {
                let kind = match e {
                    Error::Io { .. } => "no answer: the connection was closed".to_string(),
                    Error::Timeout { .. } => "no answer in time".to_string(),
                    Error::Connect { .. } => "could not connect".to_string(),
                    Error::Decode { .. } => "an undecodable answer".to_string(),
                    Error::Encode { source, .. } => format!("not encodable: {source}"),
                    other => format!("failed: {other}"),
                };
                self.steps.push(Step {
                    label,
                    outcome: Outcome::Failed(kind),
                });
            }
        }
    }

    fn record_value(&mut self, label: String, debug: &str) {
        let outcome = match tree::parse(debug) {
            Ok(mut v) => {
                self.norm.apply(&mut v);
                Outcome::Answer(v)
            }
            Err(e) => Outcome::Failed(format!("unparsable Debug text ({e})")),
        };
        self.steps.push(Step { label, outcome });
    }
}
