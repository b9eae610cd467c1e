//! "Did you mean" for unknown keys.

use crate::defs::{broker_def, topic_def, BROKER_CONFIGS, TOPIC_CONFIGS};
use crate::error::Scope;

/// A known key to suggest for an unknown `name`: first the twin in the
/// other scope (a topic key given to the broker suggests its broker
/// synonym, and the reverse), then the closest key by edit distance,
/// ignoring case, when it is close enough to be a typo.
pub(crate) fn suggest(scope: Scope, name: &str) -> Option<&'static str> {
    match scope {
        Scope::Broker => {
            if let Some(def) = topic_def(name) {
                if let Some(s) = def.synonyms.first() {
                    return Some(s.name);
                }
            }
        }
        Scope::Topic => {
            if broker_def(name).is_some() {
                if let Some(def) = TOPIC_CONFIGS
                    .iter()
                    .find(|d| d.synonyms.iter().any(|s| s.name == name))
                {
                    return Some(def.name);
                }
            }
        }
    }
    let table = match scope {
        Scope::Broker => BROKER_CONFIGS,
        Scope::Topic => TOPIC_CONFIGS,
    };
    let lower = name.to_ascii_lowercase();
    let (best, distance) = table
        .iter()
        .filter(|d| !d.internal)
        .map(|d| (d.name, edit_distance(&lower, d.name)))
        .min_by_key(|&(_, d)| d)?;
    let limit = (lower.chars().count() / 3).clamp(1, 3);
    (distance <= limit).then_some(best)
}

/// Levenshtein distance over chars.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        current[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let substitute = previous[j] + usize::from(ca != cb);
            current[j + 1] = substitute.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances() {
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("same", "same"), 0);
    }

    #[test]
    fn typos_and_twins() {
        assert_eq!(
            suggest(Scope::Broker, "num.partiton"),
            Some("num.partitions")
        );
        assert_eq!(
            suggest(Scope::Broker, "NUM.PARTITIONS"),
            Some("num.partitions")
        );
        assert_eq!(suggest(Scope::Topic, "segmnt.bytes"), Some("segment.bytes"));
        assert_eq!(
            suggest(Scope::Broker, "retention.ms"),
            Some("log.retention.ms")
        );
        assert_eq!(
            suggest(Scope::Topic, "log.retention.hours"),
            Some("retention.ms")
        );
        assert_eq!(suggest(Scope::Topic, "completely.unrelated.thing"), None);
    }
}
