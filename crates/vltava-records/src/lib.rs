//! Kafka record batches. (being written)
