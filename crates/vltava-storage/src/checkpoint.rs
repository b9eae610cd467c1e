//! Small metadata files, in Kafka's formats, all written atomically
//! (temp file, fsync, rename, fsync of the directory):
//!
//! * offset checkpoints (`recovery-point-offset-checkpoint`,
//!   `log-start-offset-checkpoint`, `replication-offset-checkpoint`):
//!   `0\n<count>\n<topic> <partition> <offset>\n...`
//! * `partition.metadata`: `version: 0\ntopic_id: <base64>\n`
//! * `meta.properties` (KRaft, version 1): `node.id`, `cluster.id`,
//!   `directory.id`.

use std::collections::BTreeMap;
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::uuid::KafkaUuid;

/// File name of the recovery-point checkpoint in a data directory.
pub const RECOVERY_POINT_CHECKPOINT: &str = "recovery-point-offset-checkpoint";
/// File name of the log-start-offset checkpoint in a data directory.
pub const LOG_START_OFFSET_CHECKPOINT: &str = "log-start-offset-checkpoint";
/// File name of the high-watermark checkpoint in a data directory
/// (Kafka's name: it is written by replication).
pub const REPLICATION_OFFSET_CHECKPOINT: &str = "replication-offset-checkpoint";
/// File name of the per-partition metadata file.
pub const PARTITION_METADATA: &str = "partition.metadata";
/// Suffix of the directory of a future log: a replica being copied into
/// another log directory (AlterReplicaLogDirs).
pub const FUTURE_DIR_SUFFIX: &str = "-future";

/// File name of the directory's identity file.
pub const META_PROPERTIES: &str = "meta.properties";
/// Suffix of temp files written by [`write_atomic`].
pub const TMP_SUFFIX: &str = ".tmp";

/// A topic and partition.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicPartition {
    /// Topic name.
    pub topic: String,
    /// Partition index.
    pub partition: i32,
}

impl TopicPartition {
    /// Builds one, checking the topic name against Kafka's rules (1..=249
    /// characters of `[a-zA-Z0-9._-]`, not `.` or `..`) and the partition
    /// (>= 0), so the directory name is always safe.
    pub fn new(topic: &str, partition: i32) -> Result<TopicPartition> {
        validate_topic(topic)?;
        if partition < 0 {
            return Err(Error::InvalidTopicPartition(format!(
                "negative partition {partition}"
            )));
        }
        Ok(TopicPartition {
            topic: topic.to_string(),
            partition,
        })
    }

    /// Parses a log directory name `<topic>-<partition>`; the partition is
    /// after the last '-' (topics may contain '-').
    pub fn from_dir_name(name: &str) -> Result<TopicPartition> {
        let bad = || Error::InvalidTopicPartition(format!("not a log directory name: {name:?}"));
        let (topic, partition) = name.rsplit_once('-').ok_or_else(bad)?;
        if partition.is_empty() || !partition.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let partition: i32 = partition.parse().map_err(|_| bad())?;
        TopicPartition::new(topic, partition)
    }

    /// Parses the directory name of a future log (a replica being moved
    /// into another log directory, Kafka's naming):
    /// `<topic>-<partition>.<32 hex digits>-future`.
    pub fn from_future_dir_name(name: &str) -> Result<TopicPartition> {
        let bad = || Error::InvalidTopicPartition(format!("not a future log name: {name:?}"));
        let stem = name.strip_suffix(FUTURE_DIR_SUFFIX).ok_or_else(bad)?;
        let (current, id) = stem.rsplit_once('.').ok_or_else(bad)?;
        if id.len() != 32 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad());
        }
        TopicPartition::from_dir_name(current)
    }

    /// `<topic>-<partition>`.
    pub fn dir_name(&self) -> String {
        format!("{}-{}", self.topic, self.partition)
    }
}

impl fmt::Display for TopicPartition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.topic, self.partition)
    }
}

/// Kafka's topic name rules.
pub fn validate_topic(topic: &str) -> Result<()> {
    let ok = !topic.is_empty()
        && topic.len() <= 249
        && topic != "."
        && topic != ".."
        && topic
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidTopicPartition(format!(
            "illegal topic name {topic:?}"
        )))
    }
}

/// fsyncs a directory so renames and creations in it are durable.
pub fn fsync_dir(dir: &Path) -> Result<()> {
    let d = File::open(dir).map_err(Error::io("open dir", dir))?;
    d.sync_all().map_err(Error::io("fsync dir", dir))
}

/// Writes `contents` to `path` atomically: `path.tmp` is written and
/// fsynced, renamed over `path`, and the directory fsynced. A crash leaves
/// either the old file or the new one, never a mix.
pub fn write_atomic(path: &Path, contents: &[u8]) -> Result<()> {
    let tmp = tmp_path(path);
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&tmp)
        .map_err(Error::io("create", &tmp))?;
    f.write_all(contents).map_err(Error::io("write", &tmp))?;
    f.sync_all().map_err(Error::io("fsync", &tmp))?;
    drop(f);
    fs::rename(&tmp, path).map_err(Error::io("rename", &tmp))?;
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => fsync_dir(dir),
        _ => fsync_dir(Path::new(".")),
    }
}

fn tmp_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_os_string();
    s.push(TMP_SUFFIX);
    PathBuf::from(s)
}

/// Reads a file that may not exist.
pub(crate) fn read_optional(path: &Path) -> Result<Option<String>> {
    match fs::read(path) {
        Ok(b) => String::from_utf8(b)
            .map(Some)
            .map_err(|_| Error::corrupt(path, "not UTF-8")),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::Io {
            op: "read",
            path: path.to_path_buf(),
            source: e,
        }),
    }
}

/// Writes an offset checkpoint file in Kafka's format.
pub fn write_offset_checkpoint(path: &Path, offsets: &BTreeMap<TopicPartition, i64>) -> Result<()> {
    let mut s = format!("0\n{}\n", offsets.len());
    for (tp, off) in offsets {
        s.push_str(&format!("{} {} {}\n", tp.topic, tp.partition, off));
    }
    write_atomic(path, s.as_bytes())
}

/// Reads an offset checkpoint file; a missing file is empty. Anything else
/// that is not exactly Kafka's version-0 format is [`Error::Corrupt`].
pub fn read_offset_checkpoint(path: &Path) -> Result<BTreeMap<TopicPartition, i64>> {
    let Some(text) = read_optional(path)? else {
        return Ok(BTreeMap::new());
    };
    let mut lines = text.lines();
    let bad = |why: &str| Error::corrupt(path, why.to_string());
    match lines.next() {
        Some("0") => {}
        Some(v) => return Err(bad(&format!("unsupported checkpoint version {v:?}"))),
        None => return Err(bad("empty checkpoint file")),
    }
    let count: usize = lines
        .next()
        .and_then(|l| l.trim().parse().ok())
        .ok_or_else(|| bad("bad entry count"))?;
    let mut out = BTreeMap::new();
    for line in lines.by_ref().take(count) {
        let mut parts = line.split(' ');
        let (Some(topic), Some(partition), Some(offset), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad(&format!("bad entry {line:?}")));
        };
        let partition: i32 = partition
            .parse()
            .map_err(|_| bad(&format!("bad partition in {line:?}")))?;
        let offset: i64 = offset
            .parse()
            .map_err(|_| bad(&format!("bad offset in {line:?}")))?;
        let tp = TopicPartition::new(topic, partition)
            .map_err(|_| bad(&format!("bad topic partition in {line:?}")))?;
        out.insert(tp, offset);
    }
    if out.len() != count {
        return Err(bad(&format!(
            "expected {count} entries, found {}",
            out.len()
        )));
    }
    if lines.any(|l| !l.trim().is_empty()) {
        return Err(bad("entries after the declared count"));
    }
    Ok(out)
}

/// Writes `partition.metadata` (version 0, the topic id) into a log dir.
pub fn write_partition_metadata(log_dir: &Path, topic_id: KafkaUuid) -> Result<()> {
    let s = format!("version: 0\ntopic_id: {}\n", topic_id.to_base64());
    write_atomic(&log_dir.join(PARTITION_METADATA), s.as_bytes())
}

/// Reads `partition.metadata`; `None` when the file does not exist.
pub fn read_partition_metadata(log_dir: &Path) -> Result<Option<KafkaUuid>> {
    let path = log_dir.join(PARTITION_METADATA);
    let Some(text) = read_optional(&path)? else {
        return Ok(None);
    };
    let mut version = None;
    let mut topic_id = None;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let (k, v) = line
            .split_once(':')
            .ok_or_else(|| Error::corrupt(&path, format!("bad line {line:?}")))?;
        match k.trim() {
            "version" => version = Some(v.trim().to_string()),
            "topic_id" => topic_id = Some(v.trim().to_string()),
            other => return Err(Error::corrupt(&path, format!("unknown key {other:?}"))),
        }
    }
    if version.as_deref() != Some("0") {
        return Err(Error::corrupt(&path, format!("bad version {version:?}")));
    }
    let id = topic_id.ok_or_else(|| Error::corrupt(&path, "no topic_id"))?;
    KafkaUuid::from_base64(&id)
        .map(Some)
        .ok_or_else(|| Error::corrupt(&path, format!("bad topic_id {id:?}")))
}

/// The identity of a data directory (`meta.properties`, KRaft version 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetaProperties {
    /// `node.id`.
    pub node_id: i32,
    /// `cluster.id`.
    pub cluster_id: String,
    /// `directory.id` (KIP-858); `None` if absent.
    pub directory_id: Option<KafkaUuid>,
}

/// Writes `dir/meta.properties` atomically (`version=1`).
pub fn write_meta_properties(dir: &Path, props: &MetaProperties) -> Result<()> {
    let mut s = String::from("#\n#Written by vltava\n");
    s.push_str(&format!("cluster.id={}\n", props.cluster_id));
    if let Some(id) = props.directory_id {
        s.push_str(&format!("directory.id={id}\n"));
    }
    s.push_str(&format!("node.id={}\nversion=1\n", props.node_id));
    write_atomic(&dir.join(META_PROPERTIES), s.as_bytes())
}

/// Reads `dir/meta.properties`; `None` when absent. Only version 1 (KRaft)
/// with `node.id` and `cluster.id` is accepted.
pub fn read_meta_properties(dir: &Path) -> Result<Option<MetaProperties>> {
    let path = dir.join(META_PROPERTIES);
    let Some(text) = read_optional(&path)? else {
        return Ok(None);
    };
    let mut map = BTreeMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with('!') {
            continue;
        }
        let (k, v) = line
            .split_once('=')
            .ok_or_else(|| Error::corrupt(&path, format!("bad line {line:?}")))?;
        map.insert(k.trim().to_string(), v.trim().to_string());
    }
    if map.get("version").map(String::as_str) != Some("1") {
        return Err(Error::corrupt(&path, "version is not 1"));
    }
    let node_id = map
        .get("node.id")
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| Error::corrupt(&path, "missing or bad node.id"))?;
    let cluster_id = map
        .get("cluster.id")
        .cloned()
        .ok_or_else(|| Error::corrupt(&path, "missing cluster.id"))?;
    let directory_id = match map.get("directory.id") {
        None => None,
        Some(v) => Some(
            KafkaUuid::from_base64(v)
                .ok_or_else(|| Error::corrupt(&path, format!("bad directory.id {v:?}")))?,
        ),
    };
    Ok(Some(MetaProperties {
        node_id,
        cluster_id,
        directory_id,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dir_names_parse_from_the_last_dash() {
        let tp = TopicPartition::from_dir_name("my.topic-with_dashes-12").unwrap();
        assert_eq!(tp.topic, "my.topic-with_dashes");
        assert_eq!(tp.partition, 12);
        assert_eq!(tp.dir_name(), "my.topic-with_dashes-12");
        assert!(TopicPartition::from_dir_name("nodash").is_err());
        assert!(TopicPartition::from_dir_name("t-").is_err());
        assert_eq!(TopicPartition::from_dir_name("t--1").unwrap().topic, "t-");
        assert!(TopicPartition::from_dir_name("t-1.abc-delete").is_err());
        assert!(TopicPartition::from_dir_name("bad topic-1").is_err());
        assert!(TopicPartition::from_dir_name("-1").is_err());
    }

    #[test]
    fn checkpoint_round_trip_and_format() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(RECOVERY_POINT_CHECKPOINT);
        assert!(read_offset_checkpoint(&path).unwrap().is_empty());
        let mut m = BTreeMap::new();
        m.insert(TopicPartition::new("a.b-c", 0).unwrap(), 42);
        m.insert(TopicPartition::new("x", 7).unwrap(), 0);
        write_offset_checkpoint(&path, &m).unwrap();
        let text = fs::read_to_string(&path).unwrap();
        assert_eq!(text, "0\n2\na.b-c 0 42\nx 7 0\n");
        assert_eq!(read_offset_checkpoint(&path).unwrap(), m);
        // No temp file left behind.
        assert!(!tmp_path(&path).exists());
    }

    #[test]
    fn checkpoint_refuses_garbage() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cp");
        for bad in [
            "1\n0\n",
            "0\n2\nt 0 1\n",
            "0\n1\nt 0\n",
            "0\n1\nt x 1\n",
            "0\n1\nt 0 1\nu 0 1\n",
            "",
            "0\nabc\n",
        ] {
            fs::write(&path, bad).unwrap();
            assert!(
                matches!(read_offset_checkpoint(&path), Err(Error::Corrupt { .. })),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn atomic_write_keeps_old_file_if_temp_is_left_over() {
        // A crash after writing the temp file but before the rename leaves
        // the old checkpoint intact and readable.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(LOG_START_OFFSET_CHECKPOINT);
        let mut m = BTreeMap::new();
        m.insert(TopicPartition::new("t", 1).unwrap(), 5);
        write_offset_checkpoint(&path, &m).unwrap();
        fs::write(tmp_path(&path), "0\n1\nt 1 9").unwrap();
        assert_eq!(read_offset_checkpoint(&path).unwrap(), m);
        // The next write replaces both.
        m.insert(TopicPartition::new("t", 1).unwrap(), 6);
        write_offset_checkpoint(&path, &m).unwrap();
        assert_eq!(read_offset_checkpoint(&path).unwrap(), m);
        assert!(!tmp_path(&path).exists());
    }

    #[test]
    fn partition_metadata_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read_partition_metadata(dir.path()).unwrap(), None);
        let id = KafkaUuid::random();
        write_partition_metadata(dir.path(), id).unwrap();
        let text = fs::read_to_string(dir.path().join(PARTITION_METADATA)).unwrap();
        assert_eq!(text, format!("version: 0\ntopic_id: {id}\n"));
        assert_eq!(read_partition_metadata(dir.path()).unwrap(), Some(id));
        fs::write(dir.path().join(PARTITION_METADATA), "version: 0\n").unwrap();
        assert!(read_partition_metadata(dir.path()).is_err());
    }

    #[test]
    fn meta_properties_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read_meta_properties(dir.path()).unwrap(), None);
        let p = MetaProperties {
            node_id: 3,
            cluster_id: "MkU3OEVBNTcwNTJENDM2Qk".into(),
            directory_id: Some(KafkaUuid::random()),
        };
        write_meta_properties(dir.path(), &p).unwrap();
        assert_eq!(read_meta_properties(dir.path()).unwrap(), Some(p));
        // Kafka's own file (comments, any order) reads too.
        fs::write(
            dir.path().join(META_PROPERTIES),
            "#\n#Thu Jan 01 00:00:00 UTC 2025\nnode.id=1\ndirectory.id=ASNFZ4mrze_-3LqYdlQyEA\nversion=1\ncluster.id=abc\n",
        )
        .unwrap();
        let p = read_meta_properties(dir.path()).unwrap().unwrap();
        assert_eq!(p.node_id, 1);
        assert_eq!(p.cluster_id, "abc");
        fs::write(dir.path().join(META_PROPERTIES), "version=0\nbroker.id=1\n").unwrap();
        assert!(read_meta_properties(dir.path()).is_err());
    }
}
