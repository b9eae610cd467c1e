"""Hostile input on raw sockets: a Metadata v4 request whose body claims
2^31-1 topics in 5 bytes, oversized and negative frame sizes, garbage
headers. Each must close (or error on) only its own connection; the broker
keeps serving other clients, both already-connected and new ones."""

import socket
import struct
import time

import pytest

METADATA = 3


def frame(payload):
    return struct.pack(">i", len(payload)) + payload


def request_header(api_key, version, correlation_id, client_id=b"hostile-test"):
    """Request header v1 (non-flexible versions): key, version, correlation id, client id."""
    return struct.pack(">hhih", api_key, version, correlation_id, len(client_id)) + client_id


def metadata_v4(correlation_id, topics=None):
    """A well-formed Metadata v4 request: all topics (null) or the named ones."""
    if topics is None:
        body = struct.pack(">i", -1)
    else:
        body = struct.pack(">i", len(topics)) + b"".join(struct.pack(">h", len(t)) + t for t in topics)
    body += b"\x00"  # allow_auto_topic_creation = false
    return frame(request_header(METADATA, 4, correlation_id) + body)


def connect(broker):
    host, port = broker.rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=10)
    s.settimeout(10)
    return s


def recv_exact(s, n):
    out = b""
    while len(out) < n:
        chunk = s.recv(n - len(out))
        if not chunk:
            raise ConnectionError(f"closed after {len(out)} of {n} bytes")
        out += chunk
    return out


def metadata_round_trip(s, correlation_id):
    """Sends Metadata v4 and checks the response: correlation id, one broker (node 1)."""
    s.sendall(metadata_v4(correlation_id))
    size = struct.unpack(">i", recv_exact(s, 4))[0]
    body = recv_exact(s, size)
    cid, _throttle, nbrokers = struct.unpack(">iii", body[:12])
    assert cid == correlation_id
    assert nbrokers == 1
    assert struct.unpack(">i", body[12:16])[0] == 1  # node id


def assert_closed(s, timeout=10):
    """The broker closes the connection: EOF or reset, without sending a response."""
    s.settimeout(timeout)
    deadline = time.monotonic() + timeout
    data = b""
    while time.monotonic() < deadline:
        try:
            chunk = s.recv(65536)
        except (ConnectionResetError, BrokenPipeError):
            return data
        except socket.timeout:
            break
        if not chunk:
            return data
        data += chunk
    pytest.fail(f"connection still open after {timeout}s (received {len(data)} bytes)")


@pytest.fixture
def bystander(broker):
    """A client connected before the hostile one, which must keep working."""
    s = connect(broker)
    metadata_round_trip(s, 1)
    yield s
    metadata_round_trip(s, 2)
    s.close()
    fresh = connect(broker)
    metadata_round_trip(fresh, 3)
    fresh.close()


def test_metadata_v4_huge_topic_count(broker, bystander):
    s = connect(broker)
    s.sendall(frame(request_header(METADATA, 4, 77) + bytes.fromhex("7fffffff00")))
    data = assert_closed(s)
    assert data == b""
    s.close()


def test_metadata_v4_huge_topic_count_after_good_request(broker, bystander):
    """Same, on a connection that already had a good exchange."""
    s = connect(broker)
    metadata_round_trip(s, 10)
    s.sendall(frame(request_header(METADATA, 4, 11) + bytes.fromhex("7fffffff00")))
    assert_closed(s)
    s.close()


@pytest.mark.parametrize("size", [104857600 + 1, 0x7FFFFFFF])
def test_oversized_frame(broker, bystander, size):
    """Larger than socket.request.max.bytes (104857600 by default)."""
    s = connect(broker)
    s.sendall(struct.pack(">i", size) + request_header(METADATA, 4, 5))
    assert_closed(s)
    s.close()


def test_negative_frame_size(broker, bystander):
    s = connect(broker)
    s.sendall(struct.pack(">i", -5) + b"\x00" * 16)
    assert_closed(s)
    s.close()


@pytest.mark.parametrize("payload", [
    b"",                                       # empty frame
    b"\x00",                                   # shorter than a header
    struct.pack(">hhi", 9999, 0, 1),           # unknown API key
    struct.pack(">hhi", METADATA, 99, 1),      # unknown version
    struct.pack(">hhih", METADATA, 4, 1, 100) + b"short",  # client id longer than the frame
], ids=["empty", "one-byte", "unknown-api", "unknown-version", "truncated-client-id"])
def test_bad_headers(broker, bystander, payload):
    s = connect(broker)
    s.sendall(frame(payload))
    assert_closed(s)
    s.close()


def test_truncated_frame_then_disconnect(broker, bystander):
    s = connect(broker)
    s.sendall(struct.pack(">i", 1000) + b"\x00" * 10)
    s.close()


def test_many_hostile_connections(broker, bystander):
    """A burst of bad connections does not disturb the broker."""
    for i in range(50):
        s = connect(broker)
        s.sendall(frame(request_header(METADATA, 4, i) + bytes.fromhex("7fffffff00")))
        assert_closed(s)
        s.close()


def test_pipelined_requests_answered_in_order(broker):
    s = connect(broker)
    s.sendall(b"".join(metadata_v4(100 + i) for i in range(20)))
    for i in range(20):
        size = struct.unpack(">i", recv_exact(s, 4))[0]
        body = recv_exact(s, size)
        assert struct.unpack(">i", body[:4])[0] == 100 + i
    s.close()
