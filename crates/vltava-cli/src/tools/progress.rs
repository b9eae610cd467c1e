//! Progress bars for long-running tools, drawn on stderr with `indicatif`.
//!
//! Every bar here draws to stderr, and indicatif draws nothing when stderr
//! is not a terminal (or TERM is dumb): a tool in a pipe or under a script
//! prints exactly what it printed before. Callers that want a plain-text
//! substitute in pipes ask [`ProgressBar::is_hidden`].

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A bar of `len` units with the given indicatif template.
pub fn bar(len: u64, template: &str) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
    // The templates are ours and fixed; a bad one is a bug the unit test
    // below catches, so falling back to the default style is enough here.
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

/// Bytes of an input file read so far.
pub fn file_bytes(len: u64) -> ProgressBar {
    bar(len, FILE_BYTES)
}

/// Items (partitions, records) done out of `len`, with a short label.
pub fn items(len: u64, label: &'static str) -> ProgressBar {
    let bar = bar(len, ITEMS);
    bar.set_prefix(label);
    bar
}

const FILE_BYTES: &str =
    "{bytes:>10}/{total_bytes:<10} [{bar:30}] {binary_bytes_per_sec} eta {eta}";
const ITEMS: &str = "{prefix} [{bar:30}] {pos}/{len} {elapsed}";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_parse() {
        for t in [FILE_BYTES, ITEMS] {
            ProgressStyle::with_template(t).unwrap();
        }
    }

    #[test]
    fn hidden_draw_target_draws_nothing() {
        // What a bar becomes off a terminal; the integration tests check the
        // real stderr of the binary in a pipe.
        let bar = ProgressBar::with_draw_target(Some(5), ProgressDrawTarget::hidden());
        assert!(bar.is_hidden());
        bar.inc(5);
        bar.finish_and_clear();
    }
}
