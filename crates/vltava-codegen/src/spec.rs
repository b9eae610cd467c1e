//! Reading Kafka's JSON message specs into a small model.
//!
//! The spec files are JSON with whole-line and trailing `//` comments. Only
//! the attributes that change the wire format or the generated API are kept.

use std::collections::BTreeMap;

use serde_json::Value;

/// An inclusive version range; `None` when a property applies to no version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Versions(pub Option<(i16, i16)>);

impl Versions {
    pub const NONE: Versions = Versions(None);

    /// Parses "none", "N", "N+" and "N-M".
    pub fn parse(text: &str) -> Result<Versions, String> {
        let text = text.trim();
        let num = |s: &str| {
            s.trim()
                .parse::<i16>()
                .map_err(|e| format!("bad version '{text}': {e}"))
        };
        if text == "none" {
            Ok(Versions::NONE)
        } else if let Some(min) = text.strip_suffix('+') {
            Ok(Versions(Some((num(min)?, i16::MAX))))
        } else if let Some((a, b)) = text.split_once('-') {
            Ok(Versions(Some((num(a)?, num(b)?))))
        } else {
            let v = num(text)?;
            Ok(Versions(Some((v, v))))
        }
    }

    pub fn intersect(self, other: Versions) -> Versions {
        match (self.0, other.0) {
            (Some((a, b)), Some((c, d))) if a.max(c) <= b.min(d) => {
                Versions(Some((a.max(c), b.min(d))))
            }
            _ => Versions::NONE,
        }
    }

    pub fn is_none(self) -> bool {
        self.0.is_none()
    }

    /// A Rust boolean expression testing `version` against this range, simplified
    /// by what is already known: the version lies within `valid`.
    pub fn condition(self, valid: Versions) -> String {
        let Some((lo, hi)) = self.intersect(valid).0 else {
            return "false".into();
        };
        let (vlo, vhi) = valid.0.expect("message has valid versions");
        match (lo <= vlo, hi >= vhi) {
            (true, true) => "true".into(),
            (false, true) => format!("version >= {lo}"),
            (true, false) => format!("version <= {hi}"),
            (false, false) if lo == hi => format!("version == {lo}"),
            (false, false) => format!("({lo}..={hi}).contains(&version)"),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Primitive {
    Bool,
    Int8,
    Int16,
    Int32,
    Int64,
    Uint16,
    Uint32,
    Float64,
    Uuid,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FieldType {
    Primitive(Primitive),
    String,
    Bytes,
    Records,
    Struct(String),
    Array(Box<FieldType>),
}

impl FieldType {
    fn parse(text: &str) -> Result<FieldType, String> {
        if let Some(inner) = text.strip_prefix("[]") {
            return Ok(FieldType::Array(Box::new(FieldType::parse(inner)?)));
        }
        Ok(match text {
            "bool" => FieldType::Primitive(Primitive::Bool),
            "int8" => FieldType::Primitive(Primitive::Int8),
            "int16" => FieldType::Primitive(Primitive::Int16),
            "int32" => FieldType::Primitive(Primitive::Int32),
            "int64" => FieldType::Primitive(Primitive::Int64),
            "uint16" => FieldType::Primitive(Primitive::Uint16),
            "uint32" => FieldType::Primitive(Primitive::Uint32),
            "float64" => FieldType::Primitive(Primitive::Float64),
            "uuid" => FieldType::Primitive(Primitive::Uuid),
            "string" => FieldType::String,
            "bytes" => FieldType::Bytes,
            "records" => FieldType::Records,
            s if s.starts_with(|c: char| c.is_ascii_uppercase()) => {
                FieldType::Struct(s.to_string())
            }
            s => return Err(format!("unknown field type '{s}'")),
        })
    }
}

#[derive(Clone, Debug)]
pub struct Field {
    /// The name as the spec spells it (PascalCase or camelCase).
    pub spec_name: String,
    pub ty: FieldType,
    pub versions: Versions,
    pub nullable_versions: Versions,
    pub tagged_versions: Versions,
    pub tag: Option<u32>,
    /// A per-field override of the message's flexible versions.
    pub flexible_versions: Option<Versions>,
    pub ignorable: bool,
    /// The spec's default, as text ("null", "-1", "0x7fffffff", "true", ...).
    pub default: Option<String>,
    pub about: String,
}

impl Field {
    /// Whether the Rust type is an `Option`: any nullable version makes it one.
    pub fn is_optional(&self) -> bool {
        !self.nullable_versions.is_none()
            && matches!(
                self.ty,
                FieldType::String
                    | FieldType::Bytes
                    | FieldType::Records
                    | FieldType::Struct(_)
                    | FieldType::Array(_)
            )
    }

    pub fn default_is_null(&self) -> bool {
        self.default.as_deref() == Some("null")
    }
}

#[derive(Clone, Debug)]
pub struct StructDef {
    pub name: String,
    pub fields: Vec<Field>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Request,
    Response,
    Header,
    Data,
    /// A record of the cluster metadata log; its `apiKey` is the record type
    /// in the metadata record frame.
    Metadata,
}

#[derive(Clone, Debug)]
pub struct MessageSpec {
    pub name: String,
    pub kind: Kind,
    pub api_key: Option<i16>,
    pub valid_versions: Versions,
    pub flexible_versions: Versions,
    pub deprecated_versions: Versions,
    pub latest_version_unstable: bool,
    pub listeners: Vec<String>,
    /// The message's own struct first, then every nested or common struct,
    /// in the order the spec defines them.
    pub structs: Vec<StructDef>,
    /// Path of the spec file relative to the specs directory.
    pub source: String,
}

/// Removes `//` comments that stand outside JSON strings.
pub fn strip_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let mut in_string = false;
        let mut escaped = false;
        let mut cut = line.len();
        let bytes = line.as_bytes();
        for (i, &b) in bytes.iter().enumerate() {
            if in_string {
                match (escaped, b) {
                    (true, _) => escaped = false,
                    (false, b'\\') => escaped = true,
                    (false, b'"') => in_string = false,
                    _ => {}
                }
            } else if b == b'"' {
                in_string = true;
            } else if b == b'/' && bytes.get(i + 1) == Some(&b'/') {
                cut = i;
                break;
            }
        }
        out.push_str(&line[..cut]);
        out.push('\n');
    }
    out
}

fn get_str<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

fn versions_attr(v: &Value, key: &str) -> Result<Option<Versions>, String> {
    match v.get(key) {
        None => Ok(None),
        Some(Value::String(s)) => Versions::parse(s).map(Some),
        Some(other) => Err(format!("'{key}' is not a string: {other}")),
    }
}

fn default_text(v: &Value) -> Option<String> {
    match v.get("default")? {
        Value::Null => Some("null".into()),
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        other => Some(other.to_string()),
    }
}

fn parse_fields(
    fields: &Value,
    parent_versions: Versions,
    structs: &mut Vec<StructDef>,
) -> Result<Vec<Field>, String> {
    let Some(list) = fields.as_array() else {
        return Err("'fields' is not an array".into());
    };
    let mut out = Vec::new();
    for f in list {
        let name = get_str(f, "name")
            .ok_or("field without a name")?
            .to_string();
        let ctx = |e: String| format!("field {name}: {e}");
        let ty = FieldType::parse(get_str(f, "type").ok_or_else(|| ctx("no type".into()))?)
            .map_err(ctx)?;
        let versions = versions_attr(f, "versions")
            .map_err(ctx)?
            .unwrap_or(parent_versions);
        let field = Field {
            spec_name: name.clone(),
            ty: ty.clone(),
            versions,
            nullable_versions: versions_attr(f, "nullableVersions")
                .map_err(ctx)?
                .unwrap_or(Versions::NONE),
            tagged_versions: versions_attr(f, "taggedVersions")
                .map_err(ctx)?
                .unwrap_or(Versions::NONE),
            // Some specs write the tag as a string ("0").
            tag: match f.get("tag") {
                None => None,
                Some(Value::Number(n)) => {
                    Some(n.as_u64().ok_or_else(|| ctx("bad tag".into()))? as u32)
                }
                Some(Value::String(s)) => Some(s.parse().map_err(|_| ctx("bad tag".into()))?),
                Some(_) => return Err(ctx("bad tag".into())),
            },
            flexible_versions: versions_attr(f, "flexibleVersions").map_err(ctx)?,
            ignorable: f.get("ignorable").and_then(Value::as_bool).unwrap_or(false),
            default: default_text(f),
            about: get_str(f, "about").unwrap_or("").to_string(),
        };
        if field.tag.is_some() == field.tagged_versions.is_none() {
            return Err(ctx("'tag' and 'taggedVersions' must come together".into()));
        }
        if let Some(nested) = f.get("fields") {
            let struct_name = match &ty {
                FieldType::Struct(s) => s.clone(),
                FieldType::Array(inner) => match inner.as_ref() {
                    FieldType::Struct(s) => s.clone(),
                    _ => return Err(ctx("nested fields on a non-struct array".into())),
                },
                _ => return Err(ctx("nested fields on a non-struct field".into())),
            };
            // Reserve the slot first so structs appear in definition order.
            let index = structs.len();
            structs.push(StructDef {
                name: struct_name.clone(),
                fields: Vec::new(),
            });
            let nested_fields = parse_fields(nested, versions, structs)?;
            structs[index].fields = nested_fields;
        }
        out.push(field);
    }
    Ok(out)
}

/// Parses one spec file.
pub fn parse_message(text: &str, source: &str) -> Result<MessageSpec, String> {
    let json: Value =
        serde_json::from_str(&strip_comments(text)).map_err(|e| format!("{source}: {e}"))?;
    let ctx = |e: String| format!("{source}: {e}");
    let name = get_str(&json, "name")
        .ok_or_else(|| ctx("no name".into()))?
        .to_string();
    let kind = match get_str(&json, "type") {
        Some("request") => Kind::Request,
        Some("response") => Kind::Response,
        Some("header") => Kind::Header,
        Some("data") => Kind::Data,
        Some("metadata") => Kind::Metadata,
        other => return Err(ctx(format!("unknown message type {other:?}"))),
    };
    let valid_versions = versions_attr(&json, "validVersions")
        .map_err(ctx)?
        .ok_or_else(|| ctx("no validVersions".into()))?;
    let flexible_versions = versions_attr(&json, "flexibleVersions")
        .map_err(ctx)?
        .ok_or_else(|| ctx("no flexibleVersions".into()))?;
    let mut structs = vec![StructDef {
        name: name.clone(),
        fields: Vec::new(),
    }];
    let fields = parse_fields(
        json.get("fields").ok_or_else(|| ctx("no fields".into()))?,
        valid_versions,
        &mut structs,
    )
    .map_err(ctx)?;
    structs[0].fields = fields;
    if let Some(common) = json.get("commonStructs").and_then(Value::as_array) {
        for c in common {
            let cname = get_str(c, "name")
                .ok_or_else(|| ctx("common struct without a name".into()))?
                .to_string();
            let cversions = versions_attr(c, "versions")
                .map_err(ctx)?
                .unwrap_or(valid_versions);
            let index = structs.len();
            structs.push(StructDef {
                name: cname,
                fields: Vec::new(),
            });
            let cfields = parse_fields(
                c.get("fields")
                    .ok_or_else(|| ctx("common struct without fields".into()))?,
                cversions,
                &mut structs,
            )
            .map_err(ctx)?;
            structs[index].fields = cfields;
        }
    }
    // Struct names must be unique within a message and every reference must resolve.
    let mut seen = BTreeMap::new();
    for s in &structs {
        if seen.insert(s.name.clone(), ()).is_some() {
            return Err(ctx(format!("struct {} is defined twice", s.name)));
        }
    }
    for s in &structs {
        for f in &s.fields {
            let mut ty = &f.ty;
            while let FieldType::Array(inner) = ty {
                ty = inner;
            }
            if let FieldType::Struct(n) = ty {
                if !seen.contains_key(n) {
                    return Err(ctx(format!(
                        "field {} refers to unknown struct {n}",
                        f.spec_name
                    )));
                }
            }
        }
    }
    Ok(MessageSpec {
        name,
        kind,
        api_key: json.get("apiKey").and_then(Value::as_i64).map(|k| k as i16),
        valid_versions,
        flexible_versions,
        deprecated_versions: versions_attr(&json, "deprecatedVersions")
            .map_err(ctx)?
            .unwrap_or(Versions::NONE),
        latest_version_unstable: json
            .get("latestVersionUnstable")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        listeners: json
            .get("listeners")
            .and_then(Value::as_array)
            .map(|l| {
                l.iter()
                    .filter_map(Value::as_str)
                    .map(String::from)
                    .collect()
            })
            .unwrap_or_default(),
        structs,
        source: source.to_string(),
    })
}

/// snake_case from PascalCase or camelCase ("IsrNodes" -> "isr_nodes",
/// "memberId" -> "member_id", "TopicIDs" -> "topic_ids").
pub fn snake_case(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let mut out = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if c.is_ascii_uppercase() {
            let prev = i.checked_sub(1).map(|p| chars[p]);
            let next = chars.get(i + 1).copied();
            let boundary = match prev {
                None => false,
                Some(p) if p.is_ascii_lowercase() || p.is_ascii_digit() => true,
                // An acronym followed by a word: "ISRNodes" -> "isr_nodes", but not
                // a plural acronym ("IDs").
                Some(p) if p.is_ascii_uppercase() => {
                    next.is_some_and(|n| n.is_ascii_lowercase())
                        && !(next == Some('s')
                            && chars.get(i + 2).is_none_or(|c| c.is_ascii_uppercase()))
                }
                _ => false,
            };
            if boundary {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_and_conditions() {
        let valid = Versions::parse("0-11").unwrap();
        assert_eq!(
            Versions::parse("3+").unwrap().condition(valid),
            "version >= 3"
        );
        assert_eq!(Versions::parse("0+").unwrap().condition(valid), "true");
        assert_eq!(Versions::parse("none").unwrap().condition(valid), "false");
        assert_eq!(
            Versions::parse("1").unwrap().condition(valid),
            "version == 1"
        );
        assert_eq!(
            Versions::parse("0-4").unwrap().condition(valid),
            "version <= 4"
        );
        assert_eq!(
            Versions::parse("2-4").unwrap().condition(valid),
            "(2..=4).contains(&version)"
        );
        assert_eq!(Versions::parse("12+").unwrap().condition(valid), "false");
    }

    #[test]
    fn snake_case_names() {
        assert_eq!(snake_case("IsrNodes"), "isr_nodes");
        assert_eq!(snake_case("memberId"), "member_id");
        assert_eq!(snake_case("TopicIDs"), "topic_ids");
        assert_eq!(snake_case("ISRNodes"), "isr_nodes");
        assert_eq!(snake_case("ThrottleTimeMs"), "throttle_time_ms");
        assert_eq!(snake_case("V1Field"), "v1_field");
    }

    #[test]
    fn metadata_type_specs_parse_with_their_record_type() {
        let text = r#"{ "apiKey": 2, "type": "metadata", "name": "TopicRecord",
            "validVersions": "0", "flexibleVersions": "0+",
            "fields": [ { "name": "Name", "type": "string", "versions": "0+" } ] }"#;
        let spec = parse_message(text, "metadata/TopicRecord.json").unwrap();
        assert_eq!(spec.kind, Kind::Metadata);
        assert_eq!(spec.api_key, Some(2));
        let unknown = text.replace("\"metadata\"", "\"coordinator-key\"");
        assert!(parse_message(&unknown, "x.json").is_err());
    }

    #[test]
    fn comments_outside_strings_are_removed() {
        let text = "{ \"a\": \"x // not a comment\", // a comment\n// whole line\n\"b\": 1 }";
        let v: Value = serde_json::from_str(&strip_comments(text)).unwrap();
        assert_eq!(v["a"], "x // not a comment");
        assert_eq!(v["b"], 1);
    }
}
