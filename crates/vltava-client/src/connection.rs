//! One TCP connection to one broker; it lives in `vltava-net`, which the
//! broker's outbound traffic shares.

pub use vltava_net::connection::*;
pub use vltava_net::security::{ClientSecurity, SaslLogin};
