//! Leader elections, as Kafka's `kafka-leader-election.sh` asks for them:
//! ElectLeaders (KIP-460) to the active controller, preferred (move each
//! partition's leadership back to its first replica) or unclean (give a
//! partition without a leader one from outside its ISR).

use vltava_protocol::messages::{elect_leaders_request, ElectLeadersRequest};
use vltava_protocol::ErrorCode;

use super::{millis_i32, nonempty, Client};
use crate::error::{Error, Result};

/// Which election ElectLeaders asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ElectionType {
    Preferred,
    Unclean,
}

/// One partition's outcome: `None` when the election happened, else the
/// broker's error (ELECTION_NOT_NEEDED when the leader was already the one
/// asked for) and its message.
pub type ElectionOutcome = (String, i32, Option<(ErrorCode, Option<String>)>);

impl Client {
    /// Elects leaders of `partitions` (topic, partition indexes), or of
    /// every partition that needs it when `None`. Per partition, in the
    /// controller's order.
    pub async fn elect_leaders(
        &mut self,
        election: ElectionType,
        partitions: Option<&[(String, Vec<i32>)]>,
    ) -> Result<Vec<ElectionOutcome>> {
        let request = ElectLeadersRequest {
            election_type: match election {
                ElectionType::Preferred => 0,
                ElectionType::Unclean => 1,
            },
            topic_partitions: partitions.map(|ps| {
                ps.iter()
                    .map(
                        |(topic, partitions)| elect_leaders_request::TopicPartitions {
                            topic: topic.clone(),
                            partitions: partitions.clone(),
                            ..Default::default()
                        },
                    )
                    .collect()
            }),
            timeout_ms: millis_i32(self.config.connection.request_timeout),
            ..Default::default()
        };
        let key = self.admin_connection().await?;
        let resp = self.conn_mut(key).send(&request).await?;
        let code = ErrorCode(resp.error_code);
        if code.is_error() {
            return Err(Error::broker(code, None, "elect leaders"));
        }
        // Leaderships changed: the cached metadata is stale.
        self.topics.clear();
        Ok(resp
            .replica_election_results
            .into_iter()
            .flat_map(|t| {
                let topic = t.topic;
                t.partition_result.into_iter().map(move |p| {
                    let code = ErrorCode(p.error_code);
                    let error = code.is_error().then(|| (code, nonempty(p.error_message)));
                    (topic.clone(), p.partition_id, error)
                })
            })
            .collect())
    }
}
