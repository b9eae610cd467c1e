//! A small native Kafka client. (being written)
