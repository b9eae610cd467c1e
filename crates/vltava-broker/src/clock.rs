//! Wall-clock time, in milliseconds since the Unix epoch, as the broker
//! reads it. It is passed in rather than read from the system wherever it
//! is needed, so that tests (and later the deterministic parts of
//! replication) can run on a clock they move themselves.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// A source of the current time in milliseconds. Cheap to clone: the
/// clones share the source.
#[derive(Clone)]
pub struct Clock {
    now_ms: Arc<dyn Fn() -> i64 + Send + Sync>,
}

impl Clock {
    /// The system's wall clock (0 if it reads before the epoch).
    pub fn system() -> Clock {
        Clock::from_fn(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as i64)
        })
    }

    /// A clock that reads `now_ms`: a test's manual clock, for instance an
    /// `AtomicI64` the test advances.
    pub fn from_fn(now_ms: impl Fn() -> i64 + Send + Sync + 'static) -> Clock {
        Clock {
            now_ms: Arc::new(now_ms),
        }
    }

    pub fn now_ms(&self) -> i64 {
        (self.now_ms)()
    }
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Clock(now_ms={})", self.now_ms())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicI64, Ordering};

    #[test]
    fn a_manual_clock_reads_what_the_test_set_and_clones_share_it() {
        let time = Arc::new(AtomicI64::new(1_000));
        let clock = Clock::from_fn({
            let time = time.clone();
            move || time.load(Ordering::SeqCst)
        });
        let copy = clock.clone();
        assert_eq!(clock.now_ms(), 1_000);
        time.store(5_000, Ordering::SeqCst);
        assert_eq!(copy.now_ms(), 5_000);
    }
}
