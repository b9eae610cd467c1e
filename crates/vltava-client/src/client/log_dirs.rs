//! A broker's log directories, as `kafka-log-dirs.sh` and
//! `kafka-reassign-partitions.sh` (replica moves between directories) ask
//! for them: DescribeLogDirs and AlterReplicaLogDirs, sent to the broker
//! itself (each broker answers for its own directories).

use vltava_protocol::messages::alter_replica_log_dirs_request::{
    AlterReplicaLogDir, AlterReplicaLogDirTopic,
};
use vltava_protocol::messages::{AlterReplicaLogDirsRequest, DescribeLogDirsRequest};
use vltava_protocol::ErrorCode;

use super::Client;
use crate::error::{Error, Result};

/// One log directory of a broker.
#[derive(Debug, Clone, PartialEq)]
pub struct LogDirDescription {
    /// Its path.
    pub path: String,
    /// KAFKA_STORAGE_ERROR for an offline directory.
    pub error: ErrorCode,
    /// The replicas in it: (topic, partition, size in bytes, offset lag,
    /// whether it is the future log of a replica moving in).
    pub replicas: Vec<LogDirReplica>,
    /// Total and usable bytes of its file system (-1: unknown).
    pub total_bytes: i64,
    pub usable_bytes: i64,
}

/// A replica in a log directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogDirReplica {
    pub topic: String,
    pub partition: i32,
    pub size: i64,
    pub offset_lag: i64,
    pub is_future: bool,
}

impl Client {
    /// The log directories of broker `node` and every replica in them.
    pub async fn describe_log_dirs(&mut self, node: i32) -> Result<Vec<LogDirDescription>> {
        let resp = self
            .connection(node)
            .await?
            .send(&DescribeLogDirsRequest {
                // null: every partition.
                topics: None,
                ..Default::default()
            })
            .await?;
        let code = ErrorCode(resp.error_code);
        if code.is_error() {
            return Err(Error::broker(code, None, "describe log dirs"));
        }
        Ok(resp
            .results
            .into_iter()
            .map(|r| LogDirDescription {
                path: r.log_dir,
                error: ErrorCode(r.error_code),
                replicas: r
                    .topics
                    .into_iter()
                    .flat_map(|t| {
                        let topic = t.name;
                        t.partitions.into_iter().map(move |p| LogDirReplica {
                            topic: topic.clone(),
                            partition: p.partition_index,
                            size: p.partition_size,
                            offset_lag: p.offset_lag,
                            is_future: p.is_future_key,
                        })
                    })
                    .collect(),
                total_bytes: r.total_bytes,
                usable_bytes: r.usable_bytes,
            })
            .collect())
    }

    /// Asks broker `node` to move its replicas of `moves` (topic,
    /// partition, destination directory). Per partition: NONE when the
    /// move started (or the replica is already there), else the broker's
    /// error.
    pub async fn alter_replica_log_dirs(
        &mut self,
        node: i32,
        moves: &[(String, i32, String)],
    ) -> Result<Vec<(String, i32, ErrorCode)>> {
        let mut dirs: Vec<AlterReplicaLogDir> = Vec::new();
        for (topic, partition, path) in moves {
            let dir = match dirs.iter_mut().position(|d| &d.path == path) {
                Some(i) => &mut dirs[i],
                None => {
                    dirs.push(AlterReplicaLogDir {
                        path: path.clone(),
                        ..Default::default()
                    });
                    dirs.last_mut().expect("just pushed")
                }
            };
            match dir.topics.iter_mut().find(|t| &t.name == topic) {
                Some(t) => t.partitions.push(*partition),
                None => dir.topics.push(AlterReplicaLogDirTopic {
                    name: topic.clone(),
                    partitions: vec![*partition],
                    ..Default::default()
                }),
            }
        }
        let resp = self
            .connection(node)
            .await?
            .send(&AlterReplicaLogDirsRequest {
                dirs,
                ..Default::default()
            })
            .await?;
        Ok(resp
            .results
            .into_iter()
            .flat_map(|t| {
                let topic = t.topic_name;
                t.partitions
                    .into_iter()
                    .map(move |p| (topic.clone(), p.partition_index, ErrorCode(p.error_code)))
            })
            .collect())
    }
}
