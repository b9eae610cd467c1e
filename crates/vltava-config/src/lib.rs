//! Broker and topic configuration with Kafka's names, types, defaults,
//! validation and DescribeConfigs metadata.

pub mod properties;

pub use properties::{
    parse_override, parse_properties, read_properties_file, ParseError, PropertiesFileError,
};
