//! Writing Rust for one message spec.
//!
//! Each struct gets `read`, `write` and `size` functions driven by the
//! version: a field's presence, nullability, compactness (flexible versions)
//! and tagging are all decided per version with conditions that are
//! simplified against the message's valid versions, so a field that exists
//! in every version costs no branch.

use std::fmt::Write as _;

use crate::spec::{
    snake_case, Field, FieldType, Kind, MessageSpec, Primitive, StructDef, Versions,
};

/// Names the generated code imports; a spec struct must not shadow them.
const RESERVED_TYPE_NAMES: &[&str] = &[
    "Bytes",
    "BytesMut",
    "Uuid",
    "Result",
    "Option",
    "Vec",
    "String",
    "Default",
    "Message",
    "Self",
    "RawTaggedField",
];

const RUST_KEYWORDS: &[&str] = &[
    "as", "async", "await", "break", "const", "continue", "crate", "dyn", "else", "enum", "extern",
    "false", "fn", "for", "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut", "pub",
    "ref", "return", "self", "static", "struct", "super", "trait", "true", "type", "unsafe", "use",
    "where", "while", "abstract", "become", "box", "do", "final", "macro", "override", "priv",
    "typeof", "unsized", "virtual", "yield", "try", "gen",
];

/// The Rust identifier of a field (a raw identifier where it is a keyword).
pub fn field_ident(field: &Field) -> String {
    let name = snake_case(&field.spec_name);
    if RUST_KEYWORDS.contains(&name.as_str()) {
        format!("r#{name}")
    } else {
        name
    }
}

/// The field's name as it appears in error paths.
fn field_path_name(field: &Field) -> String {
    snake_case(&field.spec_name)
}

/// Whether generated code refers to the `version` variable (as a whole word).
fn uses_version(code: &str) -> bool {
    let is_ident = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
    code.match_indices("version").any(|(i, _)| {
        let before = code[..i].chars().next_back();
        // `self.version` and `"version"` are a field and a path name, not the variable.
        !is_ident(before)
            && before != Some('.')
            && before != Some('"')
            && !is_ident(code[i + "version".len()..].chars().next())
    })
}

fn and_not(a: &str, b: &str) -> String {
    match (a, b) {
        ("false", _) | (_, "true") => "false".into(),
        (a, "false") => a.into(),
        ("true", b) => format!("!({b})"),
        (a, b) => format!("({a}) && !({b})"),
    }
}

fn and(a: &str, b: &str) -> String {
    match (a, b) {
        ("false", _) | (_, "false") => "false".into(),
        ("true", b) => b.into(),
        (a, "true") => a.into(),
        (a, b) => format!("({a}) && ({b})"),
    }
}

fn not(a: &str) -> String {
    match a {
        "true" => "false".into(),
        "false" => "true".into(),
        a => format!("!({a})"),
    }
}

/// Emits `body` under `cond`, or unconditionally, or not at all.
fn guarded(out: &mut String, cond: &str, body: &str) {
    match cond {
        "false" => {}
        "true" => out.push_str(body),
        c => {
            let _ = writeln!(out, "if {c} {{\n{body}}}");
        }
    }
}

fn primitive_type(p: Primitive) -> &'static str {
    match p {
        Primitive::Bool => "bool",
        Primitive::Int8 => "i8",
        Primitive::Int16 => "i16",
        Primitive::Int32 => "i32",
        Primitive::Int64 => "i64",
        Primitive::Uint16 => "u16",
        Primitive::Uint32 => "u32",
        Primitive::Float64 => "f64",
        Primitive::Uuid => "Uuid",
    }
}

fn primitive_size(p: Primitive) -> usize {
    match p {
        Primitive::Bool | Primitive::Int8 => 1,
        Primitive::Int16 | Primitive::Uint16 => 2,
        Primitive::Int32 | Primitive::Uint32 => 4,
        Primitive::Int64 | Primitive::Float64 => 8,
        Primitive::Uuid => 16,
    }
}

fn primitive_reader(p: Primitive) -> &'static str {
    match p {
        Primitive::Bool => "read_bool",
        Primitive::Int8 => "read_i8",
        Primitive::Int16 => "read_i16",
        Primitive::Int32 => "read_i32",
        Primitive::Int64 => "read_i64",
        Primitive::Uint16 => "read_u16",
        Primitive::Uint32 => "read_u32",
        Primitive::Float64 => "read_f64",
        Primitive::Uuid => "read_uuid",
    }
}

/// A statement writing the primitive value `v` (an expression of its type).
fn primitive_writer(p: Primitive, v: &str) -> String {
    match p {
        Primitive::Bool => format!("write_bool(buf, {v});"),
        Primitive::Int8 => format!("buf.put_i8({v});"),
        Primitive::Int16 => format!("buf.put_i16({v});"),
        Primitive::Int32 => format!("buf.put_i32({v});"),
        Primitive::Int64 => format!("buf.put_i64({v});"),
        Primitive::Uint16 => format!("buf.put_u16({v});"),
        Primitive::Uint32 => format!("buf.put_u32({v});"),
        Primitive::Float64 => format!("buf.put_f64({v});"),
        Primitive::Uuid => format!("write_uuid(buf, &{v});"),
    }
}

fn primitive_sample(p: Primitive) -> &'static str {
    match p {
        Primitive::Bool => "rng.bool()",
        Primitive::Int8 => "rng.i8()",
        Primitive::Int16 => "rng.i16()",
        Primitive::Int32 => "rng.i32()",
        Primitive::Int64 => "rng.i64()",
        Primitive::Uint16 => "rng.u16()",
        Primitive::Uint32 => "rng.u32()",
        Primitive::Float64 => "rng.f64()",
        Primitive::Uuid => "rng.uuid()",
    }
}

/// Per-version facts about one field, as Rust conditions on `version`.
struct FieldConds {
    /// Compact (flexible) encoding of strings, bytes and arrays.
    compact: String,
    /// Null allowed.
    nullable: String,
    /// In the fixed part of the struct.
    regular: String,
    /// In the tagged-field section.
    tagged: String,
    /// In neither.
    absent: String,
}

struct Ctx<'a> {
    msg: &'a MessageSpec,
}

impl Ctx<'_> {
    fn cond(&self, v: Versions) -> String {
        v.condition(self.msg.valid_versions)
    }

    fn has_flexible(&self) -> bool {
        !self
            .msg
            .flexible_versions
            .intersect(self.msg.valid_versions)
            .is_none()
    }

    fn conds(&self, f: &Field) -> FieldConds {
        let versions = self.cond(f.versions);
        let tagged = self.cond(f.tagged_versions.intersect(f.versions));
        FieldConds {
            compact: self.cond(f.flexible_versions.unwrap_or(self.msg.flexible_versions)),
            nullable: self.cond(f.nullable_versions),
            regular: and_not(&versions, &tagged),
            absent: not(&versions),
            tagged,
        }
    }

    fn element_type(&self, ty: &FieldType) -> String {
        match ty {
            FieldType::Primitive(p) => primitive_type(*p).into(),
            FieldType::String => "String".into(),
            FieldType::Bytes | FieldType::Records => "Bytes".into(),
            FieldType::Struct(n) => n.clone(),
            FieldType::Array(inner) => format!("Vec<{}>", self.element_type(inner)),
        }
    }

    fn rust_type(&self, f: &Field) -> String {
        let t = self.element_type(&f.ty);
        if f.is_optional() {
            format!("Option<{t}>")
        } else {
            t
        }
    }

    fn default_expr(&self, f: &Field) -> Result<String, String> {
        let d = f.default.as_deref();
        let wrap = |e: String| {
            if f.is_optional() {
                format!("Some({e})")
            } else {
                e
            }
        };
        if f.is_optional() && f.default_is_null() {
            return Ok("None".into());
        }
        Ok(match &f.ty {
            FieldType::Primitive(Primitive::Bool) => match d {
                None | Some("false") => "false".into(),
                Some("true") => "true".into(),
                Some(other) => return Err(format!("bad bool default {other}")),
            },
            FieldType::Primitive(Primitive::Float64) => {
                let v: f64 = d
                    .unwrap_or("0")
                    .parse()
                    .map_err(|e| format!("bad float default: {e}"))?;
                format!("{v:?}")
            }
            FieldType::Primitive(Primitive::Uuid) => "Uuid::ZERO".into(),
            FieldType::Primitive(p) => {
                let text = d.unwrap_or("0");
                let v: i64 = if let Some(hex) = text.strip_prefix("0x") {
                    i64::from_str_radix(hex, 16).map_err(|e| format!("bad default {text}: {e}"))?
                } else {
                    text.parse()
                        .map_err(|e| format!("bad default {text}: {e}"))?
                };
                let ty = primitive_type(*p);
                match (p, v) {
                    (Primitive::Int32, v) if v == i64::from(i32::MIN) => "i32::MIN".into(),
                    (Primitive::Int64, v) if v == i64::MIN => "i64::MIN".into(),
                    (Primitive::Int16, v) if v == i64::from(i16::MIN) => "i16::MIN".into(),
                    _ => {
                        // Check the literal fits its type now, not in rustc.
                        let fits = match p {
                            Primitive::Int8 => i8::try_from(v).is_ok(),
                            Primitive::Int16 => i16::try_from(v).is_ok(),
                            Primitive::Int32 => i32::try_from(v).is_ok(),
                            Primitive::Uint16 => u16::try_from(v).is_ok(),
                            Primitive::Uint32 => u32::try_from(v).is_ok(),
                            _ => true,
                        };
                        if !fits {
                            return Err(format!("default {text} does not fit {ty}"));
                        }
                        v.to_string()
                    }
                }
            }
            FieldType::String => match d {
                None | Some("") => wrap("String::new()".into()),
                Some("null") => return Err("default null on a non-nullable string".into()),
                Some(s) => wrap(format!("String::from({s:?})")),
            },
            FieldType::Bytes | FieldType::Records => match d {
                None | Some("") => wrap("Bytes::new()".into()),
                Some(other) => return Err(format!("unsupported bytes default {other}")),
            },
            FieldType::Array(_) => match d {
                None | Some("") => wrap("Vec::new()".into()),
                Some(other) => return Err(format!("unsupported array default {other}")),
            },
            FieldType::Struct(n) => match d {
                None => wrap(format!("{n}::default()")),
                Some(other) => return Err(format!("unsupported struct default {other}")),
            },
        })
    }

    /// A boolean expression: the field `a` (e.g. `self.x`) holds its default.
    fn is_default(&self, f: &Field, a: &str) -> Result<String, String> {
        let d = self.default_expr(f)?;
        Ok(match &f.ty {
            _ if d == "None" => format!("{a}.is_none()"),
            FieldType::Primitive(Primitive::Uuid) => format!("{a}.is_zero()"),
            FieldType::Primitive(Primitive::Float64) => {
                format!("{a}.to_bits() == ({d}f64).to_bits()")
            }
            FieldType::Primitive(_) => format!("{a} == {d}"),
            FieldType::String | FieldType::Bytes | FieldType::Records | FieldType::Array(_)
                if d.ends_with("::new()") || d.ends_with("::new())") =>
            {
                if f.is_optional() {
                    format!("{a}.as_ref().is_some_and(|v| v.is_empty())")
                } else {
                    format!("{a}.is_empty()")
                }
            }
            FieldType::String => {
                let lit = f.default.as_deref().unwrap_or_default();
                if f.is_optional() {
                    format!("{a}.as_deref() == Some({lit:?})")
                } else {
                    format!("{a} == {lit:?}")
                }
            }
            FieldType::Struct(n) => {
                if f.is_optional() {
                    format!("{a}.as_ref() == Some(&{n}::default())")
                } else {
                    format!("{a} == {n}::default()")
                }
            }
            _ => return Err(format!("no default test for {}", f.spec_name)),
        })
    }

    /// An expression of type `Result<ElementType, DecodeError>` reading one
    /// array element (or a non-optional value) from `buf`.
    fn read_value(&self, ty: &FieldType, c: &FieldConds, buf: &str) -> String {
        match ty {
            FieldType::Primitive(p) => format!("{}({buf})", primitive_reader(*p)),
            FieldType::String => format!("read_string({buf}, {})", c.compact),
            FieldType::Bytes | FieldType::Records => format!("read_bytes({buf}, {})", c.compact),
            FieldType::Struct(n) => format!("{n}::read({buf}, version)"),
            FieldType::Array(inner) => {
                let elem = self.read_value(inner, c, "buf");
                format!("read_array({buf}, {}, |buf| {elem})", c.compact)
            }
        }
    }

    /// An expression of type `Result<FieldType, DecodeError>` reading field `f`.
    fn read_field(&self, f: &Field, c: &FieldConds, buf: &str) -> String {
        if !f.is_optional() {
            return self.read_value(&f.ty, c, buf);
        }
        let raw = match &f.ty {
            FieldType::String => format!("read_nullable_string({buf}, {})", c.compact),
            FieldType::Bytes | FieldType::Records => {
                format!("read_nullable_bytes({buf}, {})", c.compact)
            }
            FieldType::Array(inner) => {
                let elem = self.read_value(inner, c, "buf");
                format!("read_nullable_array({buf}, {}, |buf| {elem})", c.compact)
            }
            FieldType::Struct(n) => {
                return format!(
                    "read_optional_struct({buf}, {}, |buf| {n}::read(buf, version))",
                    c.nullable
                );
            }
            FieldType::Primitive(_) => unreachable!("primitives are never optional"),
        };
        if c.nullable == "true" {
            raw
        } else {
            format!("{raw}.and_then(|v| null_check(v, {}))", c.nullable)
        }
    }

    /// An expression of type `Result<(), EncodeError>` writing one array
    /// element `item` (a reference).
    fn write_element(&self, ty: &FieldType, c: &FieldConds) -> String {
        match ty {
            FieldType::Primitive(p) => format!("{{ {} Ok(()) }}", primitive_writer(*p, "*item")),
            FieldType::String => format!("write_string(buf, item, {})", c.compact),
            FieldType::Bytes | FieldType::Records => {
                format!("write_bytes(buf, item, {})", c.compact)
            }
            FieldType::Struct(_) => "item.write(buf, version)".into(),
            FieldType::Array(inner) => {
                let elem = self.write_element(inner, c);
                format!("write_array(buf, item, {}, |buf, item| {elem})", c.compact)
            }
        }
    }

    /// Statements writing field `f`, read from `a` (e.g. `self.x`).
    fn write_field(&self, f: &Field, c: &FieldConds, a: &str) -> String {
        let path = field_path_name(f);
        let tail = format!(".map_err(|e| e.in_field({path:?}))?;\n");
        let checked = |opt: &str| {
            if c.nullable == "true" {
                format!("Ok({opt})")
            } else {
                format!("non_null({opt}, {}, version)", c.nullable)
            }
        };
        let expr = match (&f.ty, f.is_optional()) {
            (FieldType::Primitive(p), _) => return format!("{}\n", primitive_writer(*p, a)),
            (FieldType::String, false) => format!("write_string(buf, &{a}, {})", c.compact),
            (FieldType::Bytes | FieldType::Records, false) => format!("write_bytes(buf, &{a}, {})", c.compact),
            (FieldType::Struct(_), false) => format!("{a}.write(buf, version)"),
            (FieldType::Array(inner), false) => {
                format!("write_array(buf, &{a}, {}, |buf, item| {})", c.compact, self.write_element(inner, c))
            }
            (FieldType::String, true) => format!(
                "{}.and_then(|v| write_nullable_string(buf, v, {}))",
                checked(&format!("{a}.as_deref()")),
                c.compact
            ),
            (FieldType::Bytes | FieldType::Records, true) => format!(
                "{}.and_then(|v| write_nullable_bytes(buf, v, {}))",
                checked(&format!("{a}.as_deref()")),
                c.compact
            ),
            (FieldType::Array(inner), true) => format!(
                "{}.and_then(|v| write_nullable_array(buf, v, {}, |buf, item| {}))",
                checked(&format!("{a}.as_deref()")),
                c.compact,
                self.write_element(inner, c)
            ),
            (FieldType::Struct(_), true) => format!(
                "write_optional_struct(buf, {a}.as_ref(), {}, version, |buf, s| s.write(buf, version))",
                c.nullable
            ),
        };
        format!("{expr}{tail}")
    }

    /// A `usize` expression: the encoded size of one element `item`.
    fn element_size(&self, ty: &FieldType, c: &FieldConds) -> String {
        match ty {
            FieldType::Primitive(p) => format!("|_| {}", primitive_size(*p)),
            FieldType::String => format!("|item| string_size(item, {})", c.compact),
            FieldType::Bytes | FieldType::Records => {
                format!("|item| bytes_size(item, {})", c.compact)
            }
            FieldType::Struct(_) => "|item| item.size(version)".into(),
            FieldType::Array(inner) => {
                format!(
                    "|item| array_size(item, {}, {})",
                    c.compact,
                    self.element_size(inner, c)
                )
            }
        }
    }

    /// A `usize` expression: the encoded size of field `f` read from `a`.
    fn field_size(&self, f: &Field, c: &FieldConds, a: &str) -> String {
        match (&f.ty, f.is_optional()) {
            (FieldType::Primitive(p), _) => primitive_size(*p).to_string(),
            (FieldType::String, false) => format!("string_size(&{a}, {})", c.compact),
            (FieldType::String, true) => {
                format!("nullable_string_size({a}.as_deref(), {})", c.compact)
            }
            (FieldType::Bytes | FieldType::Records, false) => {
                format!("bytes_size(&{a}, {})", c.compact)
            }
            (FieldType::Bytes | FieldType::Records, true) => {
                format!("nullable_bytes_size({a}.as_deref(), {})", c.compact)
            }
            (FieldType::Struct(_), false) => format!("{a}.size(version)"),
            (FieldType::Struct(_), true) => {
                format!(
                    "optional_struct_size({a}.as_ref(), {}, |s| s.size(version))",
                    c.nullable
                )
            }
            (FieldType::Array(inner), false) => {
                format!(
                    "array_size(&{a}, {}, {})",
                    c.compact,
                    self.element_size(inner, c)
                )
            }
            (FieldType::Array(inner), true) => {
                format!(
                    "nullable_array_size({a}.as_deref(), {}, {})",
                    c.compact,
                    self.element_size(inner, c)
                )
            }
        }
    }

    /// An expression producing a random value of `ty` for round-trip tests.
    fn sample_value(&self, ty: &FieldType) -> String {
        match ty {
            FieldType::Primitive(p) => primitive_sample(*p).into(),
            FieldType::String => "rng.string()".into(),
            FieldType::Bytes | FieldType::Records => "rng.bytes()".into(),
            FieldType::Struct(n) => format!("{n}::sample(rng, version)"),
            FieldType::Array(inner) => format!("rng.vec(|rng| {})", self.sample_value(inner)),
        }
    }

    fn sample_field(&self, f: &Field, c: &FieldConds) -> String {
        let v = self.sample_value(&f.ty);
        if f.is_optional() {
            format!("rng.nullable({}, |rng| {v})", c.nullable)
        } else {
            v
        }
    }

    fn tagged_fields<'s>(&self, s: &'s StructDef) -> Vec<&'s Field> {
        let mut tagged: Vec<&Field> = s.fields.iter().filter(|f| f.tag.is_some()).collect();
        tagged.sort_by_key(|f| f.tag);
        tagged
    }

    fn gen_struct(&self, s: &StructDef, top_level: bool, out: &mut String) -> Result<(), String> {
        let flexible = self.has_flexible();
        let flex_cond = self.cond(self.msg.flexible_versions);
        let name = &s.name;
        if RESERVED_TYPE_NAMES.contains(&name.as_str()) {
            return Err(format!("struct name {name} collides with an imported name"));
        }

        // The type.
        if top_level {
            let kind = match self.msg.kind {
                Kind::Request => "request",
                Kind::Response => "response",
                Kind::Header => "header",
                Kind::Data => "record",
                Kind::Metadata => "metadata record",
            };
            let _ = writeln!(
                out,
                "/// The {name} {kind} (versions {}).",
                fmt_versions(self.msg.valid_versions)
            );
        }
        let _ = writeln!(
            out,
            "#[derive(Debug, Clone, PartialEq)]\npub struct {name} {{"
        );
        for f in &s.fields {
            for line in f.about.lines() {
                let _ = writeln!(out, "    /// {}", line.trim());
            }
            let mut facts = format!("versions {}", fmt_versions(f.versions));
            if !f.nullable_versions.is_none() {
                let _ = write!(facts, ", nullable {}", fmt_versions(f.nullable_versions));
            }
            if let Some(tag) = f.tag {
                let _ = write!(facts, ", tag {tag} in {}", fmt_versions(f.tagged_versions));
            }
            if !f.about.is_empty() {
                let _ = writeln!(out, "    ///");
            }
            let _ = writeln!(out, "    /// Wire: {facts}.");
            let _ = writeln!(out, "    pub {}: {},", field_ident(f), self.rust_type(f));
        }
        if flexible {
            let _ = writeln!(out, "    /// Tagged fields this version of the code does not know, kept for re-encoding.");
            let _ = writeln!(out, "    pub unknown_tagged_fields: Vec<RawTaggedField>,");
        }
        out.push_str("}\n\n");

        // Default.
        let _ = writeln!(
            out,
            "impl Default for {name} {{\n    fn default() -> Self {{\n        {name} {{"
        );
        for f in &s.fields {
            let d = self
                .default_expr(f)
                .map_err(|e| format!("{name}.{}: {e}", f.spec_name))?;
            let _ = writeln!(out, "            {}: {d},", field_ident(f));
        }
        if flexible {
            out.push_str("            unknown_tagged_fields: Vec::new(),\n");
        }
        out.push_str("        }\n    }\n}\n\n");

        let tagged = self.tagged_fields(s);
        let _ = writeln!(out, "impl {name} {{");

        // read
        let mut body = String::new();
        let mut assigns = 0;
        for f in &s.fields {
            let c = self.conds(f);
            let stmt = format!(
                "this.{} = {}.map_err(|e| e.in_field({:?}))?;\n",
                field_ident(f),
                self.read_field(f, &c, "buf"),
                field_path_name(f)
            );
            if c.regular != "false" {
                assigns += 1;
            }
            guarded(&mut body, &c.regular, &stmt);
        }
        if flexible {
            let mut arms = String::new();
            for f in &tagged {
                let c = self.conds(f);
                if c.tagged == "false" {
                    continue;
                }
                let tag = f.tag.expect("tagged");
                let guard = if c.tagged == "true" {
                    String::new()
                } else {
                    format!(" if {}", c.tagged)
                };
                let path = field_path_name(f);
                let _ = writeln!(
                    arms,
                    "{tag}{guard} => {{\nthis.{} = {}.map_err(|e| e.in_field({path:?}))?;\nfinish_tagged_field(&data, tag).map_err(|e| e.in_field({path:?}))?;\n}}",
                    field_ident(f),
                    self.read_field(f, &c, "&mut data"),
                );
            }
            let section = if arms.is_empty() {
                "read_unknown_tagged_fields(buf, &mut this.unknown_tagged_fields)?;\n".to_string()
            } else {
                format!(
                    "let count = read_uvarint(buf)?;\nfor _ in 0..count {{\nlet (tag, mut data) = read_tagged_field(buf)?;\nmatch tag {{\n{arms}_ => this.unknown_tagged_fields.push(RawTaggedField {{ tag, data }}),\n}}\n}}\n"
                )
            };
            if flex_cond != "false" {
                assigns += 1;
            }
            guarded(&mut body, &flex_cond, &section);
        }
        let _ = writeln!(
            out,
            "    pub(crate) fn read(buf: &mut Bytes, version: i16) -> Result<Self, DecodeError> {{"
        );
        if assigns == 0 {
            out.push_str("let _ = (buf, version);\nOk(Self::default())\n}\n\n");
        } else {
            if !uses_version(&body) {
                out.push_str("let _ = version;\n");
            }
            let _ = write!(
                out,
                "let mut this = Self::default();\n{body}Ok(this)\n}}\n\n"
            );
        }

        // write
        let mut body = String::new();
        for f in &s.fields {
            let c = self.conds(f);
            let ident = field_ident(f);
            let access = format!("self.{ident}");
            guarded(&mut body, &c.regular, &self.write_field(f, &c, &access));
            if !f.ignorable && c.absent != "false" {
                let check = format!(
                    "if !({}) {{\nreturn Err(EncodeError::field_not_in_version({:?}, version));\n}}\n",
                    self.is_default(f, &access)?,
                    field_path_name(f)
                );
                guarded(&mut body, &c.absent, &check);
            }
        }
        if flexible {
            let mutable = if tagged.is_empty() { "" } else { "mut " };
            let mut section = format!("let {mutable}count = self.unknown_tagged_fields.len();\n");
            let mut writes = String::new();
            for f in &tagged {
                let c = self.conds(f);
                let access = format!("self.{}", field_ident(f));
                let present = and(&c.tagged, &not(&self.is_default(f, &access)?));
                guarded(&mut section, &present, "count += 1;\n");
                let tag = f.tag.expect("tagged");
                let write = format!(
                    "write_unknown_tagged_below(buf, &self.unknown_tagged_fields, &mut next_unknown, {tag})?;\nwrite_tagged_header(buf, {tag}, {})?;\n{}",
                    self.field_size(f, &c, &access),
                    self.write_field(f, &c, &access)
                );
                guarded(&mut writes, &present, &write);
            }
            section.push_str("write_uvarint(buf, count as u32);\n");
            if writes.is_empty() {
                section
                    .push_str("write_unknown_tagged_rest(buf, &self.unknown_tagged_fields, 0)?;\n");
            } else {
                let _ = write!(
                    section,
                    "let mut next_unknown = 0;\n{writes}write_unknown_tagged_rest(buf, &self.unknown_tagged_fields, next_unknown)?;\n"
                );
            }
            guarded(&mut body, &flex_cond, &section);
        }
        let _ = writeln!(
            out,
            "    pub(crate) fn write(&self, buf: &mut BytesMut, version: i16) -> Result<(), EncodeError> {{"
        );
        if body.is_empty() {
            out.push_str("let _ = (buf, version);\n");
        } else if !uses_version(&body) {
            out.push_str("let _ = version;\n");
        }
        let _ = write!(out, "{body}Ok(())\n}}\n\n");

        // size
        let mut body = String::new();
        for f in &s.fields {
            let c = self.conds(f);
            let access = format!("self.{}", field_ident(f));
            guarded(
                &mut body,
                &c.regular,
                &format!("size += {};\n", self.field_size(f, &c, &access)),
            );
        }
        if flexible {
            let mutable = if tagged.is_empty() { "" } else { "mut " };
            let mut section = format!("let {mutable}count = self.unknown_tagged_fields.len();\n");
            let mut sizes = String::new();
            for f in &tagged {
                let c = self.conds(f);
                let access = format!("self.{}", field_ident(f));
                let present = and(&c.tagged, &not(&self.is_default(f, &access)?));
                let value = format!(
                    "count += 1;\nlet value = {};\nsize += tagged_header_size({}, value) + value;\n",
                    self.field_size(f, &c, &access),
                    f.tag.expect("tagged")
                );
                guarded(&mut sizes, &present, &value);
            }
            let _ = writeln!(
                section,
                "{sizes}size += uvarint_size(count as u32) + unknown_tagged_size(&self.unknown_tagged_fields);"
            );
            guarded(&mut body, &flex_cond, &section);
        }
        out.push_str("    pub(crate) fn size(&self, version: i16) -> usize {\n");
        if body.is_empty() {
            out.push_str("let _ = version;\n0\n}\n");
        } else {
            if !uses_version(&body) {
                out.push_str("let _ = version;\n");
            }
            let _ = write!(out, "let mut size = 0;\n{body}size\n}}\n");
        }
        out.push_str("}\n\n");

        // sample (tests and fuzz seeds only)
        let mut body = String::new();
        for f in &s.fields {
            let c = self.conds(f);
            let present = self.cond(f.versions);
            guarded(
                &mut body,
                &present,
                &format!("this.{} = {};\n", field_ident(f), self.sample_field(f, &c)),
            );
        }
        if flexible {
            guarded(
                &mut body,
                &flex_cond,
                "if rng.one_in(4) {\nthis.unknown_tagged_fields.push(rng.unknown_tagged_field());\n}\n",
            );
        }
        let _ = writeln!(
            out,
            "#[cfg(any(test, feature = \"sample\"))]\nimpl {name} {{\n    /// A random value valid in `version`, for round-trip tests and fuzz seeds.\n    pub fn sample(rng: &mut crate::sample::SampleRng, version: i16) -> Self {{"
        );
        if body.is_empty() {
            out.push_str("let _ = (rng, version);\nSelf::default()\n}\n}\n\n");
        } else {
            if !uses_version(&body) {
                out.push_str("let _ = version;\n");
            }
            let _ = write!(
                out,
                "let mut this = Self::default();\n{body}this\n}}\n}}\n\n"
            );
        }
        Ok(())
    }
}

pub fn fmt_versions(v: Versions) -> String {
    match v.0 {
        None => "none".into(),
        Some((a, i16::MAX)) => format!("{a}+"),
        Some((a, b)) if a == b => a.to_string(),
        Some((a, b)) => format!("{a}-{b}"),
    }
}

fn versions_const(v: Versions) -> String {
    match v.0 {
        None => "None".into(),
        Some((a, b)) => format!("Some(VersionRange {{ min: {a}, max: {b} }})"),
    }
}

/// The whole module for one spec file.
pub fn generate_message(msg: &MessageSpec) -> Result<String, String> {
    let ctx = Ctx { msg };
    let mut out = String::new();
    let _ = writeln!(
        out,
        "// @generated by vltava-codegen from kafka-message-specs/{}. Do not edit.",
        msg.source
    );
    out.push_str("#![allow(unused_imports)]\n#![allow(clippy::needless_borrow, clippy::redundant_closure)]\n\n");
    out.push_str("use bytes::{BufMut, Bytes, BytesMut};\n\n");
    out.push_str("use crate::codec::*;\nuse crate::message::{Message, VersionRange};\n\n");
    for (i, s) in msg.structs.iter().enumerate() {
        ctx.gen_struct(s, i == 0, &mut out)
            .map_err(|e| format!("{}: {e}", msg.source))?;
    }
    let name = &msg.name;
    let (min, max) = msg
        .valid_versions
        .0
        .ok_or("message with no valid versions")?;
    let _ = write!(
        out,
        r#"impl Message for {name} {{
    const NAME: &'static str = "{name}";
    const VERSIONS: VersionRange = VersionRange {{ min: {min}, max: {max} }};
    const FLEXIBLE_VERSIONS: Option<VersionRange> = {flex};

    fn decode(buf: &mut Bytes, version: i16) -> Result<Self, DecodeError> {{
        if !Self::VERSIONS.contains(version) {{
            return Err(DecodeError::new(DecodeErrorKind::UnsupportedVersion {{ message: Self::NAME, version }}));
        }}
        Self::read(buf, version)
    }}

    fn encode(&self, buf: &mut BytesMut, version: i16) -> Result<(), EncodeError> {{
        if !Self::VERSIONS.contains(version) {{
            return Err(EncodeError::new(EncodeErrorKind::UnsupportedVersion {{ message: Self::NAME, version }}));
        }}
        self.write(buf, version)
    }}

    fn encoded_size(&self, version: i16) -> usize {{
        self.size(version)
    }}
}}

#[cfg(any(test, feature = "sample"))]
impl crate::sample::Sample for {name} {{
    fn sample(rng: &mut crate::sample::SampleRng, version: i16) -> Self {{
        {name}::sample(rng, version)
    }}
}}
"#,
        flex = versions_const(msg.flexible_versions.intersect(msg.valid_versions)),
    );
    Ok(out)
}
