//! The process's CPU time, memory and file descriptors, read from /proc
//! (Linux); elsewhere, or when /proc cannot be read, they are left out.

/// What Prometheus' standard `process_*` metrics report.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ProcessStats {
    pub cpu_seconds: f64,
    pub resident_bytes: u64,
    pub virtual_bytes: u64,
    pub open_fds: u64,
    pub max_fds: Option<u64>,
    pub start_time_seconds: f64,
    pub threads: u64,
}

/// Clock ticks per second and page size: sysconf on Linux is 100 and 4096
/// on every platform Vltava runs on; reading them would need libc here.
const TICKS_PER_SECOND: f64 = 100.0;
const PAGE_BYTES: u64 = 4096;

pub fn read() -> Option<ProcessStats> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let boot_time = std::fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|s| parse_boot_time(&s));
    let mut stats = parse_stat(&stat, boot_time)?;
    stats.open_fds = std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count() as u64)
        .unwrap_or(0);
    stats.max_fds = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|s| parse_max_fds(&s));
    Some(stats)
}

/// Fields of /proc/self/stat after the command name (which may hold
/// spaces and parentheses, so it is skipped up to its last ')').
fn parse_stat(stat: &str, boot_time: Option<u64>) -> Option<ProcessStats> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the name: state is field 3 of proc(5), so field N is at N-3.
    let field = |n: usize| fields.get(n - 3).and_then(|f| f.parse::<u64>().ok());
    let utime = field(14)?;
    let stime = field(15)?;
    let threads = field(20)?;
    let start_ticks = field(22)?;
    let vsize = field(23)?;
    let rss_pages = field(24)?;
    Some(ProcessStats {
        cpu_seconds: (utime + stime) as f64 / TICKS_PER_SECOND,
        resident_bytes: rss_pages * PAGE_BYTES,
        virtual_bytes: vsize,
        open_fds: 0,
        max_fds: None,
        start_time_seconds: boot_time.unwrap_or(0) as f64 + start_ticks as f64 / TICKS_PER_SECOND,
        threads,
    })
}

fn parse_boot_time(stat: &str) -> Option<u64> {
    stat.lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())
}

fn parse_max_fds(limits: &str) -> Option<u64> {
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_stat_with_an_awkward_command_name() {
        // Fields from proc(5): utime 14 = 250, stime 15 = 50, threads 20 = 7,
        // starttime 22 = 1000, vsize 23, rss 24 = 10 pages.
        let stat =
            "1234 (a (b) c) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0 7 0 1000 123456789 10 rest";
        let s = parse_stat(stat, Some(1_700_000_000)).unwrap();
        assert_eq!(s.cpu_seconds, 3.0);
        assert_eq!(s.threads, 7);
        assert_eq!(s.virtual_bytes, 123_456_789);
        assert_eq!(s.resident_bytes, 10 * 4096);
        assert_eq!(s.start_time_seconds, 1_700_000_010.0);
    }

    #[test]
    fn parses_limits_and_boot_time() {
        let limits = "Limit                     Soft Limit           Hard Limit           Units\nMax open files            1024                 524288               files\n";
        assert_eq!(parse_max_fds(limits), Some(1024));
        assert_eq!(
            parse_boot_time("cpu 1 2\nbtime 1700000000\n"),
            Some(1_700_000_000)
        );
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn reads_this_process() {
        let s = read().expect("/proc is readable");
        assert!(s.open_fds > 0);
        assert!(s.resident_bytes > 0);
        assert!(s.threads >= 1);
    }
}
