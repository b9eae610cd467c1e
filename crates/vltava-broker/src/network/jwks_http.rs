//! Signed OAUTHBEARER tokens checked against an identity provider's JWKS
//! endpoint: Kafka's `OAuthBearerValidatorCallbackHandler` with an
//! `http://` or `https://` `sasl.oauthbearer.jwks.endpoint.url` (Keycloak,
//! Okta, Entra ID publish their keys there).
//!
//! A background task fetches the key set (`vltava-http-client`): at once,
//! then every `sasl.oauthbearer.jwks.endpoint.refresh.ms`. A failed fetch
//! is retried after `sasl.oauthbearer.jwks.endpoint.retry.backoff.ms`,
//! doubling up to `...retry.backoff.max.ms`, and the keys fetched before
//! stay in use, as Kafka's `RefreshingHttpsJwks` keeps its last good set.
//! A token naming a `kid` the keys lack asks the task for an early fetch
//! (at most one a second) and is refused; the client's next attempt finds
//! the provider's new key. Token checks never wait for the network: they
//! read the last key set under a lock held only to clone an `Arc`.
//!
//! Until the first fetch succeeds there are no keys and every token is
//! refused (each with a log line naming the endpoint); the broker starts
//! anyway, so an identity provider that is down does not keep the other
//! listeners from serving.
//!
//! `https://` endpoints are verified with Mozilla's roots, or with the
//! trust store named in the listener's OAUTHBEARER JAAS options
//! (`ssl.truststore.location`, `.type`, `.password`), which is where
//! Kafka's `JaasOptionsUtils` reads a JWKS endpoint's SSL settings.

use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::Duration;

use tokio::sync::Notify;
use tracing::{info, warn};
use vltava_http_client::{HttpClient, Method, Target};
use vltava_sasl::oauthbearer::jwt::{validate_jwt, JwtValidatorConfig, KeySet};
use vltava_sasl::oauthbearer::{OAuthBearerToken, TokenRejection, TokenValidator};

/// Least time between two early fetches for unknown kids.
const EARLY_FETCH_INTERVAL_MS: i64 = 1000;
/// A fetch that takes longer has failed.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);
/// A larger answer is refused: a JWKS holds a handful of keys.
const MAX_JWKS_BYTES: usize = 1 << 20;

/// When to fetch the keys: the refresh period and the retry backoff.
#[derive(Clone, Copy, Debug)]
pub struct FetchTimes {
    pub refresh: Duration,
    pub backoff: Duration,
    pub backoff_max: Duration,
}

/// A listener's signed-token validator over a JWKS endpoint.
pub struct JwksHttpValidator {
    config: JwtValidatorConfig,
    url: String,
    keys: RwLock<Arc<KeySet>>,
    /// Wakes the fetch task early (a token named an unknown kid).
    wake: Notify,
    /// When an unknown kid last asked for an early fetch.
    early_ms: Mutex<Option<i64>>,
}

impl JwksHttpValidator {
    /// Starts fetching `url`'s keys on the current tokio runtime. The
    /// error says what is wrong with the URL or the runtime.
    pub fn start(
        url: &str,
        config: JwtValidatorConfig,
        times: FetchTimes,
        client: HttpClient,
    ) -> Result<Arc<JwksHttpValidator>, String> {
        let target = Target::parse(url.trim())
            .map_err(|e| format!("sasl.oauthbearer.jwks.endpoint.url {url}: {e}"))?;
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
            "a JWKS endpoint is fetched on the broker's runtime, and there is none".to_string()
        })?;
        let validator = Arc::new(JwksHttpValidator {
            config,
            url: url.trim().to_string(),
            keys: RwLock::new(Arc::new(KeySet::default())),
            wake: Notify::new(),
            early_ms: Mutex::new(None),
        });
        runtime.spawn(fetch_loop(
            Arc::downgrade(&validator),
            target,
            client,
            times,
        ));
        Ok(validator)
    }

    /// The keys fetched last (empty before the first fetch).
    pub fn keys(&self) -> Arc<KeySet> {
        self.keys.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn set_keys(&self, keys: KeySet) {
        *self.keys.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(keys);
    }

    /// Asks for an early fetch, unless one was asked less than
    /// [`EARLY_FETCH_INTERVAL_MS`] ago; true when it asked.
    fn ask_early_fetch(&self, now_ms: i64) -> bool {
        let mut early = self.early_ms.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(at) = *early {
            if (0..EARLY_FETCH_INTERVAL_MS).contains(&(now_ms - at)) {
                return false;
            }
        }
        *early = Some(now_ms);
        self.wake.notify_one();
        true
    }
}

impl TokenValidator for JwksHttpValidator {
    fn validate(&self, token: &str, now_ms: i64) -> Result<OAuthBearerToken, TokenRejection> {
        let keys = self.keys();
        // Said at most once a second, however many clients try.
        if keys.is_empty() && self.ask_early_fetch(now_ms) {
            warn!(endpoint = %self.url, "OAUTHBEARER tokens are arriving before the JWKS endpoint answered; they are refused");
        }
        let result = validate_jwt(token, &keys, &self.config, now_ms);
        if result.as_ref().is_err_and(|e| e.is_unknown_key()) {
            self.ask_early_fetch(now_ms);
        }
        result.map_err(TokenRejection::from)
    }
}

/// One fetch: the document and its key set, or why not.
async fn fetch(
    client: &HttpClient,
    target: &Target,
    url: &str,
) -> Result<(bytes::Bytes, KeySet), String> {
    let (status, body) = client
        .request(Method::GET, target, None, FETCH_TIMEOUT)
        .await
        .map_err(|e| format!("JWKS endpoint {url}: {e}"))?;
    if status != 200 {
        return Err(format!("JWKS endpoint {url} answered HTTP {status}"));
    }
    if body.len() > MAX_JWKS_BYTES {
        return Err(format!(
            "JWKS endpoint {url} answered more than {MAX_JWKS_BYTES} bytes"
        ));
    }
    let (keys, skipped) =
        KeySet::parse(&body).map_err(|why| format!("JWKS endpoint {url}: {why}"))?;
    for line in skipped {
        warn!("JWKS endpoint {url}: {line}");
    }
    if keys.is_empty() {
        return Err(format!(
            "JWKS endpoint {url} has no key that can verify tokens (RSA, or EC on P-256/P-384, for signing)"
        ));
    }
    Ok((body, keys))
}

/// Fetches, sleeps, fetches again, for as long as the validator lives.
async fn fetch_loop(
    validator: Weak<JwksHttpValidator>,
    target: Target,
    client: HttpClient,
    times: FetchTimes,
) {
    let mut backoff = times.backoff;
    let mut failure: Option<String> = None;
    let mut last_body: Option<bytes::Bytes> = None;
    loop {
        let Some(v) = validator.upgrade() else { return };
        let url = v.url.clone();
        drop(v);
        let wait = match fetch(&client, &target, &url).await {
            Ok((body, keys)) => {
                let Some(v) = validator.upgrade() else { return };
                if last_body.as_ref() != Some(&body) {
                    info!(endpoint = %url, keys = keys.len(), "JWKS fetched");
                    v.set_keys(keys);
                    last_body = Some(body);
                }
                failure = None;
                backoff = times.backoff;
                times.refresh
            }
            Err(why) => {
                // Each different failure is said once, not every retry.
                if failure.as_ref() != Some(&why) {
                    warn!("{why}; the keys fetched before stay in use");
                    failure = Some(why);
                }
                let wait = backoff;
                backoff = (backoff * 2).min(times.backoff_max.max(times.backoff));
                wait
            }
        };
        let Some(v) = validator.upgrade() else { return };
        // Holding the validator while sleeping is fine: the task ends at
        // its next look once the listener is gone. A wake-up fetches now.
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = v.wake.notified() => {}
        }
    }
}
