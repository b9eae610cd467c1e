//! The connection against an in-process fake peer that answers ApiVersions
//! and Metadata with hand-built responses: framing, correlation ids, version
//! negotiation, the KIP-511 fallback, timeouts; and the client's bootstrap
//! and metadata handling on top. Not a fake broker: nothing else is answered.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use vltava_client::{Client, ClientConfig, Connection, ConnectionConfig, Error, ErrorCode};
use vltava_protocol::header::{decode_request, encode_response, split_frame};
use vltava_protocol::messages::api_versions_response::ApiVersion;
use vltava_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use vltava_protocol::messages::{
    ApiVersionsResponse, CreateTopicsRequest, MetadataRequest, MetadataResponse, RequestHeader,
};
use vltava_protocol::{ApiKey, RequestBody, ResponseBody, Uuid};

/// What the fake does with one request.
enum Reply {
    /// Answer with this body in this version.
    Body(ResponseBody, i16),
    /// Answer with this body but another correlation id.
    WrongCorrelation(ResponseBody, i16),
    /// Answer in two writes, 50 ms apart.
    Split(ResponseBody, i16),
    /// Never answer.
    Silence,
    /// Close the connection.
    Close,
}

type Responder = dyn Fn(&RequestHeader, &RequestBody) -> Reply + Send + Sync;

struct FakePeer {
    addr: String,
    /// Every request received, in order: (header, body).
    log: Arc<Mutex<Vec<(RequestHeader, RequestBody)>>>,
    accepted: Arc<Mutex<usize>>,
}

impl FakePeer {
    async fn start(
        responder: impl Fn(&RequestHeader, &RequestBody) -> Reply + Send + Sync + 'static,
    ) -> FakePeer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let log = Arc::new(Mutex::new(Vec::new()));
        let accepted = Arc::new(Mutex::new(0));
        let responder: Arc<Responder> = Arc::new(responder);
        let (log2, accepted2) = (log.clone(), accepted.clone());
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                *accepted2.lock().unwrap() += 1;
                tokio::spawn(serve(stream, responder.clone(), log2.clone()));
            }
        });
        FakePeer {
            addr,
            log,
            accepted,
        }
    }

    fn requests(&self) -> Vec<(RequestHeader, RequestBody)> {
        self.log.lock().unwrap().clone()
    }

    fn accepted(&self) -> usize {
        *self.accepted.lock().unwrap()
    }
}

async fn serve(
    mut stream: TcpStream,
    responder: Arc<Responder>,
    log: Arc<Mutex<Vec<(RequestHeader, RequestBody)>>>,
) {
    let mut buf = BytesMut::new();
    loop {
        let frame = loop {
            if let Some(frame) = split_frame(&mut buf, 1 << 20).unwrap() {
                break frame;
            }
            if stream.read_buf(&mut buf).await.unwrap_or(0) == 0 {
                return;
            }
        };
        let (header, body) = decode_request(frame).expect("the client sent a decodable request");
        log.lock().unwrap().push((header.clone(), body.clone()));
        let mut out = BytesMut::new();
        match responder(&header, &body) {
            Reply::Body(resp, v) => {
                encode_response(header.correlation_id, &resp, v, &mut out).unwrap();
                stream.write_all(&out).await.unwrap();
            }
            Reply::WrongCorrelation(resp, v) => {
                encode_response(header.correlation_id + 100, &resp, v, &mut out).unwrap();
                stream.write_all(&out).await.unwrap();
            }
            Reply::Split(resp, v) => {
                encode_response(header.correlation_id, &resp, v, &mut out).unwrap();
                let (a, b) = out.split_at(3);
                stream.write_all(a).await.unwrap();
                stream.flush().await.unwrap();
                tokio::time::sleep(Duration::from_millis(50)).await;
                stream.write_all(b).await.unwrap();
            }
            Reply::Silence => {}
            Reply::Close => return,
        }
    }
}

fn range(api: ApiKey, min: i16, max: i16) -> ApiVersion {
    ApiVersion {
        api_key: api as i16,
        min_version: min,
        max_version: max,
        ..Default::default()
    }
}

/// ApiVersions 0..=3 and Metadata 0..=12.
fn api_versions_ok(version: i16) -> Reply {
    let resp = ApiVersionsResponse {
        api_keys: vec![
            range(ApiKey::ApiVersions, 0, 3),
            range(ApiKey::Metadata, 0, 12),
        ],
        ..Default::default()
    };
    Reply::Body(ResponseBody::ApiVersions(resp), version)
}

/// The KIP-511 refusal: UNSUPPORTED_VERSION in a v0 body, listing what the
/// peer knows of ApiVersions (if anything).
fn api_versions_refusal(max_known: Option<i16>) -> Reply {
    let resp = ApiVersionsResponse {
        error_code: ErrorCode::UNSUPPORTED_VERSION.code(),
        api_keys: max_known
            .map(|m| vec![range(ApiKey::ApiVersions, 0, m)])
            .unwrap_or_default(),
        ..Default::default()
    };
    Reply::Body(ResponseBody::ApiVersions(resp), 0)
}

fn cluster_metadata(self_addr: &str) -> MetadataResponse {
    let (host, port) = self_addr.rsplit_once(':').unwrap();
    MetadataResponse {
        brokers: vec![MetadataResponseBroker {
            node_id: 1,
            host: host.to_string(),
            port: port.parse().unwrap(),
            rack: Some("r1".to_string()),
            ..Default::default()
        }],
        cluster_id: Some("fake-cluster".to_string()),
        controller_id: 1,
        topics: vec![MetadataResponseTopic {
            name: Some("orders".to_string()),
            topic_id: Uuid([7; 16]),
            partitions: (0..3)
                .rev()
                .map(|p| MetadataResponsePartition {
                    partition_index: p,
                    leader_id: 1,
                    leader_epoch: 4,
                    replica_nodes: vec![1],
                    isr_nodes: vec![1],
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }],
        ..Default::default()
    }
}

fn fast_config() -> ConnectionConfig {
    ConnectionConfig {
        connect_timeout: Duration::from_secs(2),
        request_timeout: Duration::from_millis(300),
        ..Default::default()
    }
}

/// A peer that speaks ApiVersions (up to `max_api_versions`, refusing
/// newer with or without listing its own range) and answers Metadata with
/// `metadata`.
async fn peer(
    max_api_versions: i16,
    list_own_range: bool,
    metadata: impl Fn(&str, i16) -> Reply + Send + Sync + 'static,
) -> FakePeer {
    let self_addr = Arc::new(Mutex::new(String::new()));
    let addr2 = self_addr.clone();
    let p = FakePeer::start(move |h, _body| match ApiKey::from_i16(h.request_api_key) {
        Some(ApiKey::ApiVersions) if h.request_api_version > max_api_versions => {
            api_versions_refusal(list_own_range.then_some(max_api_versions))
        }
        Some(ApiKey::ApiVersions) => api_versions_ok(h.request_api_version),
        Some(ApiKey::Metadata) => metadata(&addr2.lock().unwrap(), h.request_api_version),
        _ => Reply::Close,
    })
    .await;
    *self_addr.lock().unwrap() = p.addr.clone();
    p
}

/// Answers Metadata in `version`, or in the request's version.
fn metadata_reply(version: Option<i16>) -> impl Fn(&str, i16) -> Reply + Send + Sync + 'static {
    move |addr, asked| {
        Reply::Body(
            ResponseBody::Metadata(cluster_metadata(addr)),
            version.unwrap_or(asked),
        )
    }
}

#[tokio::test]
async fn handshake_sends_api_versions_v3_with_the_software_name() {
    let p = peer(3, true, metadata_reply(None)).await;
    let conn = Connection::connect(&p.addr, fast_config()).await.unwrap();
    assert_eq!(conn.api_versions_version(), 3);
    let reqs = p.requests();
    assert_eq!(reqs.len(), 1);
    let (h, body) = &reqs[0];
    assert_eq!(h.request_api_key, ApiKey::ApiVersions as i16);
    assert_eq!(h.request_api_version, 3);
    assert_eq!(h.correlation_id, 0);
    assert_eq!(h.client_id.as_deref(), Some("vltava"));
    let RequestBody::ApiVersions(req) = body else {
        panic!("{body:?}")
    };
    assert_eq!(req.client_software_name, "vltava-client");
    assert_eq!(req.client_software_version, env!("CARGO_PKG_VERSION"));
    // What the peer offers, capped by what we know.
    assert_eq!(conn.negotiated_version(ApiKey::Metadata).unwrap(), 12);
    assert!(matches!(
        conn.negotiated_version(ApiKey::Produce),
        Err(Error::UnsupportedVersion {
            api: ApiKey::Produce,
            theirs: None,
            ..
        })
    ));
}

#[tokio::test]
async fn kip511_fallback_to_the_version_the_broker_lists() {
    let p = peer(2, true, metadata_reply(None)).await;
    let conn = Connection::connect(&p.addr, fast_config()).await.unwrap();
    assert_eq!(conn.api_versions_version(), 2);
    let versions: Vec<(i16, i32)> = p
        .requests()
        .iter()
        .map(|(h, _)| (h.request_api_version, h.correlation_id))
        .collect();
    assert_eq!(versions, [(3, 0), (2, 1)]);
    assert_eq!(conn.negotiated_version(ApiKey::Metadata).unwrap(), 12);
}

#[tokio::test]
async fn kip511_fallback_to_v0_when_the_broker_lists_nothing() {
    let p = peer(0, false, metadata_reply(None)).await;
    let conn = Connection::connect(&p.addr, fast_config()).await.unwrap();
    assert_eq!(conn.api_versions_version(), 0);
    let versions: Vec<i16> = p
        .requests()
        .iter()
        .map(|(h, _)| h.request_api_version)
        .collect();
    assert_eq!(versions, [3, 0]);
}

#[tokio::test]
async fn a_second_refusal_is_an_error_not_a_loop() {
    // Refuses everything, even v0.
    let p = FakePeer::start(|_, _| api_versions_refusal(None)).await;
    let err = Connection::connect(&p.addr, fast_config())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::UNSUPPORTED_VERSION), "{err}");
    assert_eq!(p.requests().len(), 2);
}

#[tokio::test]
async fn send_negotiates_the_version_and_counts_correlation_ids() {
    let p = peer(3, true, metadata_reply(None)).await;
    let mut conn = Connection::connect(&p.addr, fast_config()).await.unwrap();
    let req = MetadataRequest {
        topics: None,
        ..Default::default()
    };
    let first = conn.send(&req).await.unwrap();
    let second = conn.send(&req).await.unwrap();
    assert_eq!(first, cluster_metadata(&p.addr));
    assert_eq!(first, second);
    let seen: Vec<(i16, i16, i32)> = p
        .requests()
        .iter()
        .map(|(h, _)| (h.request_api_key, h.request_api_version, h.correlation_id))
        .collect();
    let md = ApiKey::Metadata as i16;
    assert_eq!(seen[1..], [(md, 12, 1), (md, 12, 2)]);
}

#[tokio::test]
async fn send_version_overrides_the_negotiation() {
    let p = peer(3, true, metadata_reply(None)).await;
    let mut conn = Connection::connect(&p.addr, fast_config()).await.unwrap();
    let req = MetadataRequest {
        topics: Some(vec![]),
        ..Default::default()
    };
    let resp = conn.send_version(&req, 4).await.unwrap();
    assert_eq!(resp.brokers.len(), 1);
    let (h, _) = p.requests().pop().unwrap();
    assert_eq!(h.request_api_version, 4);
    // A version we do not know is refused before anything is sent.
    let err = conn.send_version(&req, 99).await.unwrap_err();
    assert!(matches!(err, Error::UnsupportedVersion { .. }), "{err}");
    assert_eq!(p.requests().len(), 2);
    assert!(!conn.is_broken());
}

#[tokio::test]
async fn an_api_the_broker_lacks_is_refused_locally() {
    let p = peer(3, true, metadata_reply(None)).await;
    let mut conn = Connection::connect(&p.addr, fast_config()).await.unwrap();
    let err = conn
        .send(&CreateTopicsRequest::default())
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::UnsupportedVersion {
                api: ApiKey::CreateTopics,
                theirs: None,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(err.to_string(), "the broker does not support CreateTopics");
    assert_eq!(p.requests().len(), 1);
}

#[tokio::test]
async fn a_response_in_pieces_is_reassembled() {
    let p = peer(3, true, |addr, v| {
        Reply::Split(ResponseBody::Metadata(cluster_metadata(addr)), v)
    })
    .await;
    let mut conn = Connection::connect(&p.addr, fast_config()).await.unwrap();
    let resp = conn.send(&MetadataRequest::default()).await.unwrap();
    assert_eq!(resp.cluster_id.as_deref(), Some("fake-cluster"));
}

#[tokio::test]
async fn a_wrong_correlation_id_breaks_the_connection() {
    let p = peer(3, true, |addr, v| {
        Reply::WrongCorrelation(ResponseBody::Metadata(cluster_metadata(addr)), v)
    })
    .await;
    let mut conn = Connection::connect(&p.addr, fast_config()).await.unwrap();
    let err = conn.send(&MetadataRequest::default()).await.unwrap_err();
    assert!(matches!(err, Error::Protocol(_)), "{err}");
    assert!(err.to_string().contains("correlation id 101"), "{err}");
    assert!(conn.is_broken());
    let err = conn.send(&MetadataRequest::default()).await.unwrap_err();
    assert!(matches!(err, Error::Io { .. }), "{err}");
    assert_eq!(p.requests().len(), 2, "nothing sent on a broken connection");
}

#[tokio::test]
async fn a_response_in_the_wrong_version_is_a_decode_error() {
    // Answered as v0 to a v12 request: the body does not parse as v12 (or
    // leaves bytes over).
    let p = peer(3, true, metadata_reply(Some(0))).await;
    let mut conn = Connection::connect(&p.addr, fast_config()).await.unwrap();
    let err = conn.send(&MetadataRequest::default()).await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::Decode {
                api: ApiKey::Metadata,
                version: 12,
                ..
            } | Error::Protocol(_)
        ),
        "{err}"
    );
    assert!(conn.is_broken());
}

#[tokio::test]
async fn silence_is_a_timeout() {
    let p = peer(3, true, |_, _| Reply::Silence).await;
    let mut conn = Connection::connect(&p.addr, fast_config()).await.unwrap();
    let started = std::time::Instant::now();
    let err = conn.send(&MetadataRequest::default()).await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::Timeout {
                api: ApiKey::Metadata,
                ..
            }
        ),
        "{err}"
    );
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(conn.is_broken());
}

#[tokio::test]
async fn a_closed_connection_is_an_io_error() {
    let p = peer(3, true, |_, _| Reply::Close).await;
    let mut conn = Connection::connect(&p.addr, fast_config()).await.unwrap();
    let err = conn.send(&MetadataRequest::default()).await.unwrap_err();
    assert!(matches!(err, Error::Io { .. }), "{err}");
    assert!(err.to_string().contains("closed"), "{err}");
}

#[tokio::test]
async fn nobody_listening_is_a_connect_error() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    drop(listener);
    let err = Connection::connect(&addr, fast_config()).await.unwrap_err();
    assert!(matches!(err, Error::Connect { .. }), "{err}");
    assert!(err
        .to_string()
        .starts_with(&format!("cannot connect to {addr}")));
}

#[tokio::test]
async fn client_bootstraps_and_reads_topic_metadata() {
    let p = peer(3, true, metadata_reply(None)).await;
    let mut config = ClientConfig::new([p.addr.clone()]);
    config.connection = fast_config();
    let mut client = Client::connect(config).await.unwrap();
    let brokers: Vec<_> = client.brokers().cloned().collect();
    assert_eq!(brokers.len(), 1);
    assert_eq!(brokers[0].addr(), p.addr);
    assert_eq!(brokers[0].rack.as_deref(), Some("r1"));

    let t = client.topic_metadata("orders").await.unwrap();
    assert_eq!(t.topic_id, Uuid([7; 16]));
    let indexes: Vec<i32> = t.partitions.iter().map(|p| p.partition).collect();
    assert_eq!(indexes, [0, 1, 2], "sorted by partition");
    assert_eq!(t.replication_factor(), 1);
    assert_eq!(client.partition_count("orders").await.unwrap(), 3);
    assert_eq!(
        client.partition_for_key("orders", b"kafka").await.unwrap(),
        1348980580 % 3
    );
    assert_eq!(client.list_topics(false).await.unwrap(), ["orders"]);

    // No DescribeCluster offered: falls back to Metadata.
    let cluster = client.describe_cluster().await.unwrap();
    assert_eq!(cluster.cluster_id.as_deref(), Some("fake-cluster"));
    assert_eq!(cluster.controller_id, 1);

    // The bootstrap connection was recognised as node 1 and reused.
    assert_eq!(p.accepted(), 1);
    // Metadata requests: brokers only (an empty list), one topic, all topics.
    let topics: Vec<Option<Vec<Option<String>>>> = p
        .requests()
        .into_iter()
        .filter_map(|(_, b)| match b {
            RequestBody::Metadata(m) => {
                Some(m.topics.map(|ts| ts.into_iter().map(|t| t.name).collect()))
            }
            _ => None,
        })
        .collect();
    assert_eq!(topics[0], Some(vec![]));
    assert_eq!(topics[1], Some(vec![Some("orders".to_string())]));
    assert!(topics.contains(&None));
}

#[tokio::test]
async fn client_tries_the_next_bootstrap_server() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dead = listener.local_addr().unwrap().to_string();
    drop(listener);
    let p = peer(3, true, metadata_reply(None)).await;
    let mut config = ClientConfig::new([dead, p.addr.clone()]);
    config.connection = fast_config();
    let client = Client::connect(config).await.unwrap();
    assert_eq!(client.brokers().count(), 1);
}

#[tokio::test]
async fn client_reports_an_unreachable_cluster() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dead = listener.local_addr().unwrap().to_string();
    drop(listener);
    let mut config = ClientConfig::new([dead.clone()]);
    config.connection = fast_config();
    config.retries = 1;
    config.retry_backoff = Duration::from_millis(10);
    let err = Client::connect(config).await.unwrap_err();
    assert!(matches!(err, Error::Connect { .. }), "{err}");
    assert!(err.to_string().contains(&dead));
}

#[tokio::test]
async fn client_reports_an_unknown_topic_after_retrying() {
    let p = peer(3, true, |addr, v| {
        let mut md = cluster_metadata(addr);
        md.topics = vec![MetadataResponseTopic {
            error_code: ErrorCode::UNKNOWN_TOPIC_OR_PARTITION.code(),
            name: Some("nope".to_string()),
            ..Default::default()
        }];
        Reply::Body(ResponseBody::Metadata(md), v)
    })
    .await;
    let mut config = ClientConfig::new([p.addr.clone()]);
    config.connection = fast_config();
    config.retries = 2;
    config.retry_backoff = Duration::from_millis(10);
    let mut client = Client::connect(config).await.unwrap();
    let err = client.topic_metadata("nope").await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION));
    assert_eq!(
        err.to_string(),
        "topic nope: UNKNOWN_TOPIC_OR_PARTITION (3): This server does not host the requested \
         topic-partition."
    );
    // bootstrap + 1 try + 2 retries
    let metadata_requests = p
        .requests()
        .iter()
        .filter(|(h, _)| h.request_api_key == ApiKey::Metadata as i16)
        .count();
    assert_eq!(metadata_requests, 4);
}
