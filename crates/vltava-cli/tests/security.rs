//! Security of a running broker: connection limits, TLS and SASL
//! listeners, authorization with ACLs.

mod common;

use std::io::Read;
use std::net::TcpStream;
use std::time::Duration;

use common::TestBroker;

/// True when the broker closed `stream` (a read sees the end) within `wait`.
fn closed_by_broker(stream: &mut TcpStream, wait: Duration) -> bool {
    stream.set_read_timeout(Some(wait)).unwrap();
    let mut buf = [0u8; 16];
    matches!(stream.read(&mut buf), Ok(0))
        || matches!(stream.read(&mut buf), Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_the_per_address_limit_are_closed_and_room_comes_back() {
    let broker = TestBroker::start(&["max.connections.per.ip=2"]);
    let addr = broker.bootstrap();
    // The start-up probe's connection counts until the broker has seen it
    // close.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut first = TcpStream::connect(&addr).unwrap();
    let mut second = TcpStream::connect(&addr).unwrap();
    let mut third = TcpStream::connect(&addr).unwrap();
    assert!(
        closed_by_broker(&mut third, Duration::from_secs(3)),
        "a third connection from 127.0.0.1 is over max.connections.per.ip=2"
    );
    assert!(!closed_by_broker(&mut first, Duration::from_millis(200)));
    assert!(!closed_by_broker(&mut second, Duration::from_millis(200)));
    drop(first);
    // One closed: a client fits again and gets answers.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut client = broker.client().await;
    client
        .create_topic(&common::cluster::topic("limits", 1))
        .await
        .expect("a request on the connection that fits");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_override_raises_the_limit_for_one_address() {
    let broker = TestBroker::start(&[
        "max.connections.per.ip=1",
        "max.connections.per.ip.overrides=127.0.0.1:3",
    ]);
    let addr = broker.bootstrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut open: Vec<TcpStream> = (0..3).map(|_| TcpStream::connect(&addr).unwrap()).collect();
    for s in &mut open {
        assert!(!closed_by_broker(s, Duration::from_millis(200)));
    }
    let mut fourth = TcpStream::connect(&addr).unwrap();
    assert!(closed_by_broker(&mut fourth, Duration::from_secs(3)));
}
