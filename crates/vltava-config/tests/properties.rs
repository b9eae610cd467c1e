//! Properties parsing edge cases, checked against what Java's
//! `Properties::load` produces for the same text.

use vltava_config::{parse_override, parse_properties, read_properties_file, PropertiesFileError};

fn parse(text: &str) -> Vec<(String, String)> {
    parse_properties(text).expect("parses")
}

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn three_separator_forms() {
    let text = "a=1\nb: 2\nc 3\nd\t4\ne\u{c}5\n";
    assert_eq!(
        parse(text),
        pairs(&[("a", "1"), ("b", "2"), ("c", "3"), ("d", "4"), ("e", "5")])
    );
}

#[test]
fn whitespace_around_separator_and_trailing_whitespace_kept() {
    // Leading whitespace of the line and around the separator is skipped;
    // trailing whitespace of the value is kept, as Java keeps it.
    let text = "   key   =   value  \n";
    assert_eq!(parse(text), pairs(&[("key", "value  ")]));
}

#[test]
fn whitespace_then_separator_counts_once() {
    // After a whitespace terminator, one `=` or `:` is still a separator...
    assert_eq!(parse("k = v"), pairs(&[("k", "v")]));
    assert_eq!(parse("k : v"), pairs(&[("k", "v")]));
    // ...but only one: the second is part of the value.
    assert_eq!(parse("k = = v"), pairs(&[("k", "= v")]));
    assert_eq!(parse("k==v"), pairs(&[("k", "=v")]));
    assert_eq!(parse("k:=v"), pairs(&[("k", "=v")]));
}

#[test]
fn key_without_value() {
    assert_eq!(
        parse("lonely\nalso=\nspaced   \n"),
        pairs(&[("lonely", ""), ("also", ""), ("spaced", "")])
    );
}

#[test]
fn comments_and_blank_lines() {
    let text = "# comment\n! also comment\n   # indented comment\n\n   \t \nk=v # not a comment\n";
    assert_eq!(parse(text), pairs(&[("k", "v # not a comment")]));
}

#[test]
fn comment_does_not_continue_with_backslash() {
    let text = "# comment \\\nk=v\n";
    assert_eq!(parse(text), pairs(&[("k", "v")]));
}

#[test]
fn continuation_lines_join_and_drop_leading_whitespace() {
    let text = "fruits = apple, banana, \\\n         pear, \\\n    cantaloupe\nnext=1\n";
    assert_eq!(
        parse(text),
        pairs(&[("fruits", "apple, banana, pear, cantaloupe"), ("next", "1")])
    );
}

#[test]
fn continuation_of_key_and_hash_inside_continuation() {
    // A continuation line starting with '#' is content, not a comment.
    let text = "ke\\\n   y=va\\\n   #lue\n";
    assert_eq!(parse(text), pairs(&[("key", "va#lue")]));
}

#[test]
fn even_backslashes_do_not_continue() {
    let text = "path=C:\\\\dir\\\\\nnext=2\n";
    assert_eq!(parse(text), pairs(&[("path", "C:\\dir\\"), ("next", "2")]));
}

#[test]
fn continuation_followed_by_blank_line_ends_the_entry() {
    let text = "a=1\\\n\nb=2\n";
    assert_eq!(parse(text), pairs(&[("a", "1"), ("b", "2")]));
}

#[test]
fn continuation_at_end_of_text() {
    assert_eq!(parse("a=1\\"), pairs(&[("a", "1")]));
    assert_eq!(parse("a=1\\\n"), pairs(&[("a", "1")]));
}

#[test]
fn all_line_terminators() {
    assert_eq!(
        parse("a=1\r\nb=2\rc=3\nd=4"),
        pairs(&[("a", "1"), ("b", "2"), ("c", "3"), ("d", "4")])
    );
    // A continuation across \r\n.
    assert_eq!(parse("a=1\\\r\n  2\r\n"), pairs(&[("a", "12")]));
}

#[test]
fn escapes_in_values() {
    let text = "v=tab\\tnl\\ncr\\rff\\fback\\\\slash\\=eq\\:colon\\ space\\qq\n";
    assert_eq!(
        parse(text),
        pairs(&[("v", "tab\tnl\ncr\rff\u{c}back\\slash=eq:colon spaceqq")])
    );
}

#[test]
fn escaped_separators_in_keys() {
    let text = "a\\=b=c\nx\\:y:z\nsp\\ ace value\n";
    assert_eq!(
        parse(text),
        pairs(&[("a=b", "c"), ("x:y", "z"), ("sp ace", "value")])
    );
}

#[test]
fn unicode_escapes() {
    let text = "greeting=\\u0048\\u0069 \\u00e9\nemoji=\\uD83D\\uDE00\nk\\u0065y=v\n";
    assert_eq!(
        parse(text),
        pairs(&[("greeting", "Hi é"), ("emoji", "\u{1F600}"), ("key", "v")])
    );
}

#[test]
fn raw_non_ascii_passes_through() {
    assert_eq!(parse("město=Praha\n"), pairs(&[("město", "Praha")]));
}

#[test]
fn malformed_unicode_escape_names_the_line() {
    let err = parse_properties("a=1\nb=2\nc=\\u12G4\n").unwrap_err();
    assert_eq!(err.line, 3);
    assert!(err.message.contains("\\uXXXX"), "{err}");
    assert_eq!(err.to_string().split(':').next(), Some("line 3"));

    let err = parse_properties("ok=1\nshort=\\u12").unwrap_err();
    assert_eq!(err.line, 2);
}

#[test]
fn malformed_escape_on_a_continuation_line_names_that_line() {
    let err = parse_properties("a=1,\\\n  2,\\\n  \\uZZZZ\n").unwrap_err();
    assert_eq!(err.line, 3);
}

#[test]
fn unpaired_surrogate_is_an_error() {
    let err = parse_properties("\n\nx=\\uD83D!\n").unwrap_err();
    assert_eq!(err.line, 3);
    assert!(err.message.contains("surrogate"), "{err}");
}

#[test]
fn duplicate_keys_are_all_returned_in_order() {
    assert_eq!(parse("a=1\na=2\n"), pairs(&[("a", "1"), ("a", "2")]));
}

#[test]
fn typical_server_properties() {
    let text = "\
############################# Server Basics #############################
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@localhost:9093

listeners=PLAINTEXT://:9092,CONTROLLER://:9093
log.dirs=/tmp/kraft-combined-logs
num.partitions=1
log.retention.hours=168
";
    let props = parse(text);
    assert_eq!(props.len(), 7);
    assert_eq!(
        props[0],
        ("process.roles".to_string(), "broker,controller".to_string())
    );
    assert_eq!(props[3].1, "PLAINTEXT://:9092,CONTROLLER://:9093");
}

#[test]
fn override_arguments() {
    assert_eq!(
        parse_override("a.b=c=d"),
        Some(("a.b".to_string(), "c=d".to_string()))
    );
    assert_eq!(
        parse_override("a.b="),
        Some(("a.b".to_string(), String::new()))
    );
    assert_eq!(parse_override("novalue"), None);
    assert_eq!(parse_override("=x"), None);
}

#[test]
fn reads_a_file() {
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let path = dir.join(format!(
        "vltava-config-props-{}.properties",
        std::process::id()
    ));
    std::fs::write(&path, "num.partitions = 3\n# c\nlog.dirs=/data/a,/data/b\n").unwrap();
    let props = read_properties_file(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    assert_eq!(
        props,
        pairs(&[("num.partitions", "3"), ("log.dirs", "/data/a,/data/b")])
    );

    let missing = read_properties_file(&dir.join("does-not-exist.properties")).unwrap_err();
    assert!(matches!(missing, PropertiesFileError::Io(_)));
}
