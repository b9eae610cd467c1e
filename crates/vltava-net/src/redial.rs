//! A connection to whatever address is current: made on first use, and
//! made again when the address changes or the connection broke. The
//! broker's outbound channels (to the active controller, to other brokers)
//! keep one each.

use vltava_protocol::Request;

use crate::connection::{Connection, ConnectionConfig};
use crate::error::Result;

pub struct Redial {
    config: ConnectionConfig,
    current: Option<(String, Connection)>,
}

impl Redial {
    pub fn new(config: ConnectionConfig) -> Redial {
        Redial {
            config,
            current: None,
        }
    }

    /// Sends `request` to `addr` (in `version`, or the negotiated one) and
    /// returns the answer. A failure drops the connection, so the next call
    /// connects again.
    pub async fn send<R: Request>(
        &mut self,
        addr: &str,
        request: &R,
        version: Option<i16>,
    ) -> Result<R::Response> {
        if !matches!(&self.current, Some((a, c)) if a == addr && !c.is_broken()) {
            self.current = None;
            let connection = Connection::connect(addr, self.config.clone()).await?;
            self.current = Some((addr.to_string(), connection));
        }
        let (_, connection) = self.current.as_mut().expect("connected above");
        let sent = match version {
            Some(v) => connection.send_version(request, v).await,
            None => connection.send(request).await,
        };
        if sent.is_err() {
            self.current = None;
        }
        sent
    }
}
