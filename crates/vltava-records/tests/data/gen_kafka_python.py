"""Writes record batches produced by kafka-python (a client no one here
wrote) as test fixtures for tests/kafka_python.rs.

    pip install kafka-python==3.0.12 python-snappy lz4 zstandard
    python3 gen_kafka_python.py   # run from this directory

kafka-python's codecs are independent of ours: xerial snappy via
python-snappy (libsnappy), LZ4 frames via python-lz4 (the reference liblz4,
which records the content size), zstd via python-zstandard (reference
libzstd), gzip via Python's zlib. `snappy_raw` is a raw snappy block
(snappy_encode(xerial_compatible=False)), the framing librdkafka writes.

Records (must match tests/kafka_python.rs): for i in 0..40,
  timestamp = 1700000000000 + 3*i
  key       = None if i % 5 == 0 else b"key-%d" % i
  value     = None if i % 7 == 3 else b"value-%d-" % i + b"x" * i
  headers   = [("h", b"%d" % i), ("h", None)] if i % 2 == 0 else []
producer id 4242, epoch 3, base sequence 100; transactional for zstd.
"""
import kafka.codec as codec
from kafka.record.default_records import DefaultRecordBatchBuilder

BASE_TS = 1_700_000_000_000


def build(compression, transactional=False):
    b = DefaultRecordBatchBuilder(
        magic=2, compression_type=compression, is_transactional=transactional,
        producer_id=4242, producer_epoch=3, base_sequence=100,
        batch_size=1 << 20)
    for i in range(40):
        key = None if i % 5 == 0 else b"key-%d" % i
        value = None if i % 7 == 3 else b"value-%d-" % i + b"x" * i
        headers = [("h", b"%d" % i), ("h", None)] if i % 2 == 0 else []
        assert b.append(i, BASE_TS + 3 * i, key, value, headers) is not None
    return bytes(b.build())


def main():
    cases = {"none": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}
    for name, c in cases.items():
        data = build(c, transactional=(name == "zstd"))
        assert data[22] & 7 == c, name  # really compressed
        with open("kafka_python_%s.bin" % name, "wb") as f:
            f.write(data)
    # Raw snappy, as librdkafka frames it.
    orig = codec.snappy_encode
    codec.snappy_encode = lambda payload: orig(payload, xerial_compatible=False)
    import kafka.record.default_records as dr
    dr.snappy_encode = codec.snappy_encode
    data = build(2)
    assert data[22] & 7 == 2
    assert data[61:69] != b"\x82SNAPPY\x00"
    with open("kafka_python_snappy_raw.bin", "wb") as f:
        f.write(data)


if __name__ == "__main__":
    main()
