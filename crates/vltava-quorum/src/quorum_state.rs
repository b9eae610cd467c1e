//! Kafka's `quorum-state` file: the epoch, leader and vote a KRaft replica
//! must keep across restarts (`QuorumStateData`, `raft/QuorumStateData.json`).
//!
//! The format is what Kafka's `FileQuorumStateStore` writes: one line of
//! compact JSON, the fields of `QuorumStateData` in the version's JSON
//! form plus `data_version`. We write version 1, the form Kafka uses since
//! KIP-853:
//!
//! ```text
//! {"leaderId":1,"leaderEpoch":5,"votedId":-1,"votedDirectoryId":"AAAAAAAAAAAAAAAAAAAAAA","data_version":1}
//! ```
//!
//! and read versions 0 and 1. Version 0 also carries `clusterId`,
//! `appliedOffset` and `currentVoters`, which replicas stopped relying on;
//! they are checked for shape and dropped. -1 means "none" for `leaderId`
//! and `votedId`. `votedDirectoryId` is written as the zero id (the state
//! machine does not track directory ids yet) and ignored on read.
//!
//! Writes are atomic and durable: the JSON goes to `<file>.tmp` (Kafka's
//! temporary name), which is fsynced and renamed over the file, and then
//! the directory is fsynced so the rename itself survives a crash. A
//! leftover `.tmp` from a crash is never read, and the next write replaces
//! it.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde_json::Value;
use vltava_raft::QuorumStateData;

/// The file's name in the metadata log directory (Kafka's
/// `FileQuorumStateStore.DEFAULT_FILE_NAME`).
pub const FILE_NAME: &str = "quorum-state";

/// The version this module writes.
pub const WRITE_VERSION: i16 = 1;

/// Kafka's zero `Uuid` in its base64 form.
const ZERO_UUID: &str = "AAAAAAAAAAAAAAAAAAAAAA";

/// Reads the file; `Ok(None)` if it does not exist. A file that is not a
/// valid version 0 or 1 quorum state is an `InvalidData` error: guessing a
/// vote or an epoch could make this replica vote twice in one epoch.
pub fn read(path: &Path) -> io::Result<Option<QuorumStateData>> {
    let text = match fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    from_json(&text)
        .map(Some)
        .map_err(|msg| invalid(format!("{}: {msg}", path.display())))
}

/// Writes `state` atomically and durably (see the module docs).
pub fn write(path: &Path, state: &QuorumStateData) -> io::Result<()> {
    let tmp = tmp_path(path);
    let result = write_via(&tmp, path, state);
    if result.is_err() {
        // Best effort: the stale temporary file is harmless (reads never
        // look at it and the next write truncates it) but untidy.
        let _ = fs::remove_file(&tmp);
    }
    result
}

fn write_via(tmp: &Path, path: &Path, state: &QuorumStateData) -> io::Result<()> {
    let json = to_json(state);
    {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(tmp)?;
        f.write_all(json.as_bytes())?;
        f.sync_all()?;
    }
    fs::rename(tmp, path)?;
    fsync_parent(path)
}

/// `<path>.tmp`.
pub fn tmp_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_os_string();
    s.push(".tmp");
    PathBuf::from(s)
}

fn fsync_parent(path: &Path) -> io::Result<()> {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    File::open(parent)?.sync_all()
}

/// The version 1 JSON line, fields in the order Kafka's generated
/// converter writes them. Built by hand because `serde_json`'s map sorts
/// keys, and the output should match Kafka's byte for byte.
pub fn to_json(state: &QuorumStateData) -> String {
    format!(
        "{{\"leaderId\":{},\"leaderEpoch\":{},\"votedId\":{},\"votedDirectoryId\":\"{}\",\"data_version\":{}}}",
        state.leader_id.unwrap_or(-1),
        state.leader_epoch,
        state.voted_id.unwrap_or(-1),
        ZERO_UUID,
        WRITE_VERSION
    )
}

/// Parses a `quorum-state` file's contents (version 0 or 1). Like Kafka,
/// only the first line counts.
pub fn from_json(text: &str) -> Result<QuorumStateData, String> {
    let line = text.lines().next().ok_or("empty file")?;
    let value: Value = serde_json::from_str(line).map_err(|e| format!("not JSON: {e}"))?;
    let obj = value.as_object().ok_or("not a JSON object")?;
    let version = obj
        .get("data_version")
        .ok_or("no data_version field")?
        .as_i64()
        .ok_or("data_version is not an integer")?;
    let field = |name: &str| obj.get(name).ok_or(format!("no {name} field"));
    let int32 = |name: &str| -> Result<i32, String> {
        field(name)?
            .as_i64()
            .and_then(|v| i32::try_from(v).ok())
            .ok_or(format!("{name} is not a 32-bit integer"))
    };
    match version {
        0 => {
            if !field("clusterId")?.is_string() {
                return Err("clusterId is not a string".into());
            }
            if field("appliedOffset")?.as_i64().is_none() {
                return Err("appliedOffset is not an integer".into());
            }
            match field("currentVoters")? {
                Value::Null => {}
                Value::Array(voters) => {
                    for v in voters {
                        let id = v.get("voterId").and_then(Value::as_i64);
                        if id.and_then(|id| i32::try_from(id).ok()).is_none() {
                            return Err("currentVoters entry without an integer voterId".into());
                        }
                    }
                }
                _ => return Err("currentVoters is not an array".into()),
            }
        }
        1 => {
            let dir = field("votedDirectoryId")?
                .as_str()
                .ok_or("votedDirectoryId is not a string")?;
            if !is_kafka_uuid(dir) {
                return Err(format!("votedDirectoryId {dir:?} is not a Kafka uuid"));
            }
        }
        v => return Err(format!("data_version {v} is not 0 or 1")),
    }
    let leader_epoch = int32("leaderEpoch")?;
    let leader_id = optional_id(int32("leaderId")?, "leaderId")?;
    let voted_id = optional_id(int32("votedId")?, "votedId")?;
    Ok(QuorumStateData {
        leader_epoch,
        leader_id,
        voted_id,
    })
}

fn optional_id(id: i32, name: &str) -> Result<Option<i32>, String> {
    match id {
        -1 => Ok(None),
        id if id >= 0 => Ok(Some(id)),
        id => Err(format!("{name} {id} is neither a replica id nor -1")),
    }
}

/// 16 bytes in URL-safe base64 without padding: 22 characters. (The
/// unused low bits of the last character are not checked: Java's decoder,
/// which Kafka uses, does not check them either.)
fn is_kafka_uuid(s: &str) -> bool {
    s.len() == 22
        && s.bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(epoch: i32, leader: Option<i32>, voted: Option<i32>) -> QuorumStateData {
        QuorumStateData {
            leader_epoch: epoch,
            leader_id: leader,
            voted_id: voted,
        }
    }

    #[test]
    fn missing_file_is_none() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read(&dir.path().join(FILE_NAME)).unwrap(), None);
    }

    #[test]
    fn round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        for s in [
            state(0, None, None),
            state(5, Some(1), None),
            state(6, None, Some(3)),
            state(7, Some(2), Some(2)),
            state(i32::MAX, Some(i32::MAX), Some(0)),
        ] {
            write(&path, &s).unwrap();
            assert_eq!(read(&path).unwrap(), Some(s));
            assert!(!tmp_path(&path).exists());
        }
    }

    #[test]
    fn writes_kafkas_json() {
        assert_eq!(
            to_json(&state(2, None, Some(1))),
            r#"{"leaderId":-1,"leaderEpoch":2,"votedId":1,"votedDirectoryId":"AAAAAAAAAAAAAAAAAAAAAA","data_version":1}"#
        );
        // Kafka's own example (FileQuorumStateStore docs), non-zero
        // directory id included.
        let kafka = r#"{"leaderId":-1,"leaderEpoch":2,"votedId":1,"votedDirectoryId":"J8aAPcfLQt2bqs1JT_rMgQ","data_version":1}"#;
        assert_eq!(from_json(kafka).unwrap(), state(2, None, Some(1)));
    }

    #[test]
    fn reads_version_0() {
        let v0 = r#"{"clusterId":"","leaderId":1,"leaderEpoch":2,"votedId":-1,"appliedOffset":0,"currentVoters":[],"data_version":0}"#;
        assert_eq!(from_json(v0).unwrap(), state(2, Some(1), None));
        let v0 = r#"{"clusterId":"abc","leaderId":-1,"leaderEpoch":9,"votedId":3,"appliedOffset":17,"currentVoters":[{"voterId":1},{"voterId":3}],"data_version":0}"#;
        assert_eq!(from_json(v0).unwrap(), state(9, None, Some(3)));
        let v0 = r#"{"clusterId":"abc","leaderId":-1,"leaderEpoch":9,"votedId":3,"appliedOffset":17,"currentVoters":null,"data_version":0}"#;
        assert_eq!(from_json(v0).unwrap(), state(9, None, Some(3)));
        // Only the first line counts, as in Kafka.
        let two_lines = format!("{}\ngarbage", to_json(&state(4, Some(1), None)));
        assert_eq!(from_json(&two_lines).unwrap(), state(4, Some(1), None));
    }

    #[test]
    fn garbage_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        for bad in [
            "",
            "\n",
            "not json",
            "[1,2]",
            "{}",
            r#"{"leaderId":1,"leaderEpoch":2,"votedId":-1}"#,
            r#"{"leaderId":1,"leaderEpoch":2,"votedId":-1,"votedDirectoryId":"AAAAAAAAAAAAAAAAAAAAAA","data_version":2}"#,
            r#"{"leaderId":1,"leaderEpoch":2,"votedId":-1,"data_version":1}"#,
            r#"{"leaderId":1,"leaderEpoch":2,"votedId":-1,"votedDirectoryId":"short","data_version":1}"#,
            r#"{"leaderId":"1","leaderEpoch":2,"votedId":-1,"votedDirectoryId":"AAAAAAAAAAAAAAAAAAAAAA","data_version":1}"#,
            r#"{"leaderId":1,"leaderEpoch":4294967296,"votedId":-1,"votedDirectoryId":"AAAAAAAAAAAAAAAAAAAAAA","data_version":1}"#,
            r#"{"leaderId":-2,"leaderEpoch":2,"votedId":-1,"votedDirectoryId":"AAAAAAAAAAAAAAAAAAAAAA","data_version":1}"#,
            r#"{"leaderId":1,"leaderEpoch":2,"votedId":-1,"appliedOffset":0,"currentVoters":[],"data_version":0}"#,
            r#"{"clusterId":"","leaderId":1,"leaderEpoch":2,"votedId":-1,"appliedOffset":0,"currentVoters":[{"id":1}],"data_version":0}"#,
            "{\"leaderId\":1,\"leaderEp",
        ] {
            fs::write(&path, bad).unwrap();
            let err = read(&path).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidData, "{bad:?}");
        }
        fs::write(&path, [0xff, 0xfe, 0x00]).unwrap();
        assert!(read(&path).is_err());
    }

    #[test]
    fn leftover_tmp_file_is_ignored_and_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        write(&path, &state(3, Some(1), None)).unwrap();
        // A crash while writing the next state leaves a partial temporary
        // file: the old state is still what reads see.
        fs::write(tmp_path(&path), "{\"leaderId\":2,\"lea").unwrap();
        assert_eq!(read(&path).unwrap(), Some(state(3, Some(1), None)));
        write(&path, &state(4, None, Some(2))).unwrap();
        assert_eq!(read(&path).unwrap(), Some(state(4, None, Some(2))));
        assert!(!tmp_path(&path).exists());
        // Without the file, a temporary file alone is no state at all.
        fs::remove_file(&path).unwrap();
        fs::write(tmp_path(&path), to_json(&state(9, None, None))).unwrap();
        assert_eq!(read(&path).unwrap(), None);
    }

    #[test]
    fn write_into_missing_directory_fails_cleanly() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("absent").join(FILE_NAME);
        assert!(write(&path, &state(1, None, None)).is_err());
    }
}
