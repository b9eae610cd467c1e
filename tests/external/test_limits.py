"""The broker under resource limits: running out of file descriptors while
creating partitions fails those partitions, not the controller. Later
metadata changes still succeed and deleting the topic leaves no directories
behind."""

import pytest
from kafka import KafkaAdminClient

from conftest import Broker


@pytest.fixture(scope="module")
def broker_proc():
    b = Broker(nofile=200)
    try:
        yield b
    finally:
        b.cleanup()


def test_fd_exhaustion_does_not_brick_the_controller(broker_proc, broker):
    admin = KafkaAdminClient(bootstrap_servers=broker, request_timeout_ms=60000)
    try:
        # More partitions than the broker has descriptors for: the metadata
        # is committed (as in Kafka), the logs that cannot be opened are not.
        r = admin.create_topics({"many": {"num_partitions": 400, "replication_factor": 1}}, raise_errors=False)
        assert r["topics"][0]["error_code"] == 0, r
        assert "Too many open files" in broker_proc.log_text()
        r = admin.create_topics({"after": {"num_partitions": 1, "replication_factor": 1}}, raise_errors=False)
        assert r["topics"][0]["error_code"] == 0, r
        r = admin.delete_topics(["many"], raise_errors=False)
        assert [(t["name"], t["error_code"]) for t in r["topics"]] == [("many", 0)]
        r = admin.create_topics({"after2": {"num_partitions": 1, "replication_factor": 1}}, raise_errors=False)
        assert r["topics"][0]["error_code"] == 0, r
        assert sorted(admin.list_topics()) == ["after", "after2"]
        dirs = sorted(p.name for p in (broker_proc.dir / "data").iterdir() if p.is_dir())
        assert [d for d in dirs if d.startswith("many")] == []
    finally:
        admin.close()
