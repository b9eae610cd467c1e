//! Primitive encoders and decoders shared by the generated message code.
//!
//! Every reader takes the bytes that remain in the current frame (`&mut Bytes`)
//! and checks a length or count read from the wire against what remains
//! *before* allocating, so a hostile frame can never make us reserve more
//! memory than it actually carries. Writers append to a `BytesMut`.
//!
//! "Compact" encodings (strings, bytes and arrays with unsigned-varint length
//! plus one) are used in flexible versions; the generated code passes the flag.

use std::fmt;

use bytes::{Buf, BufMut, Bytes, BytesMut};

/// One element of the path to the field where decoding or encoding failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PathElement {
    Field(&'static str),
    Index(usize),
}

fn fmt_path(path: &[PathElement], f: &mut fmt::Formatter<'_>) -> fmt::Result {
    // The path is collected while the error unwinds, innermost first.
    let mut first = true;
    for element in path.iter().rev() {
        match element {
            PathElement::Field(name) => {
                if !first {
                    f.write_str(".")?;
                }
                f.write_str(name)?;
            }
            PathElement::Index(i) => write!(f, "[{i}]")?,
        }
        first = false;
    }
    Ok(())
}

/// Why a message could not be decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DecodeErrorKind {
    /// The frame ended before a fixed-size value.
    UnexpectedEnd { needed: usize, remaining: usize },
    /// A length or count is larger than the bytes that remain.
    LengthExceedsFrame { length: u64, remaining: usize },
    /// A length other than -1 (null) was negative.
    NegativeLength(i64),
    /// Null was sent for a field that is not nullable in this version.
    UnexpectedNull,
    /// A string was not valid UTF-8.
    InvalidUtf8,
    /// An unsigned varint ran past its maximum width.
    VarintTooLong,
    /// The message does not exist in this version.
    UnsupportedVersion { message: &'static str, version: i16 },
    /// A tagged field's value did not fill exactly the size its header gave.
    TaggedFieldSize { tag: u32 },
    /// An API key this crate does not know.
    UnknownApiKey(i16),
}

/// A decoding failure, with the path of the field that failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodeError {
    pub kind: DecodeErrorKind,
    /// Innermost element first; `Display` prints it outermost first.
    pub path: Vec<PathElement>,
}

impl DecodeError {
    pub fn new(kind: DecodeErrorKind) -> Self {
        DecodeError {
            kind,
            path: Vec::new(),
        }
    }

    /// Adds the name of the field being decoded (used while unwinding).
    #[cold]
    pub fn in_field(mut self, name: &'static str) -> Self {
        self.path.push(PathElement::Field(name));
        self
    }

    /// Adds the index of the array element being decoded.
    #[cold]
    pub fn at_index(mut self, index: usize) -> Self {
        self.path.push(PathElement::Index(index));
        self
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            DecodeErrorKind::UnexpectedEnd { needed, remaining } => {
                write!(f, "frame ended: needed {needed} bytes, {remaining} remain")?
            }
            DecodeErrorKind::LengthExceedsFrame { length, remaining } => write!(
                f,
                "length {length} exceeds the {remaining} bytes that remain in the frame"
            )?,
            DecodeErrorKind::NegativeLength(n) => write!(f, "negative length {n}")?,
            DecodeErrorKind::UnexpectedNull => f.write_str("null in a non-nullable field")?,
            DecodeErrorKind::InvalidUtf8 => f.write_str("string is not valid UTF-8")?,
            DecodeErrorKind::VarintTooLong => f.write_str("varint is too long")?,
            DecodeErrorKind::UnsupportedVersion { message, version } => {
                write!(f, "{message} has no version {version}")?
            }
            DecodeErrorKind::TaggedFieldSize { tag } => {
                write!(f, "tagged field {tag} does not match its declared size")?
            }
            DecodeErrorKind::UnknownApiKey(key) => write!(f, "unknown API key {key}")?,
        }
        if !self.path.is_empty() {
            f.write_str(" at ")?;
            fmt_path(&self.path, f)?;
        }
        Ok(())
    }
}

impl std::error::Error for DecodeError {}

/// Why a message could not be encoded in the requested version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EncodeErrorKind {
    /// The field holds a non-default value but does not exist in this
    /// version and is not marked ignorable.
    FieldNotInVersion { version: i16 },
    /// The field is None but the version does not allow null.
    NullNotAllowed { version: i16 },
    /// A string longer than the 16-bit length prefix allows.
    StringTooLong(usize),
    /// A byte string, array or record set longer than an i32 allows.
    TooLong(usize),
    /// The message does not exist in this version.
    UnsupportedVersion { message: &'static str, version: i16 },
}

/// An encoding failure, with the path of the field that failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EncodeError {
    pub kind: EncodeErrorKind,
    pub path: Vec<PathElement>,
}

impl EncodeError {
    pub fn new(kind: EncodeErrorKind) -> Self {
        EncodeError {
            kind,
            path: Vec::new(),
        }
    }

    #[cold]
    pub fn in_field(mut self, name: &'static str) -> Self {
        self.path.push(PathElement::Field(name));
        self
    }

    #[cold]
    pub fn at_index(mut self, index: usize) -> Self {
        self.path.push(PathElement::Index(index));
        self
    }

    #[cold]
    pub(crate) fn field_not_in_version(name: &'static str, version: i16) -> Self {
        EncodeError::new(EncodeErrorKind::FieldNotInVersion { version }).in_field(name)
    }
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            EncodeErrorKind::FieldNotInVersion { version } => write!(
                f,
                "field has a non-default value but does not exist in version {version}"
            )?,
            EncodeErrorKind::NullNotAllowed { version } => {
                write!(f, "null is not allowed in version {version}")?
            }
            EncodeErrorKind::StringTooLong(n) => write!(f, "string of {n} bytes is too long")?,
            EncodeErrorKind::TooLong(n) => write!(f, "{n} bytes or elements is too long")?,
            EncodeErrorKind::UnsupportedVersion { message, version } => {
                write!(f, "{message} has no version {version}")?
            }
        }
        if !self.path.is_empty() {
            f.write_str(" at ")?;
            fmt_path(&self.path, f)?;
        }
        Ok(())
    }
}

impl std::error::Error for EncodeError {}

/// A tagged field this code does not know (a newer peer's), kept as raw bytes
/// so that it survives a decode/encode round trip.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct RawTaggedField {
    pub tag: u32,
    pub data: Bytes,
}

/// A 128-bit UUID (topic ids, directory ids), kept as its 16 wire bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct Uuid(pub [u8; 16]);

impl Uuid {
    pub const ZERO: Uuid = Uuid([0; 16]);

    pub fn is_zero(&self) -> bool {
        *self == Uuid::ZERO
    }
}

impl fmt::Display for Uuid {
    /// Kafka prints topic ids as URL-safe base64 without padding.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const ALPHABET: &[u8; 64] =
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let mut out = String::with_capacity(22);
        for chunk in self.0.chunks(3) {
            let b = [
                chunk[0],
                *chunk.get(1).unwrap_or(&0),
                *chunk.get(2).unwrap_or(&0),
            ];
            let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
            let chars = chunk.len() + 1;
            for i in 0..chars {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            }
        }
        f.write_str(&out)
    }
}

// ---------------------------------------------------------------------------
// Readers
// ---------------------------------------------------------------------------

#[inline]
fn need(buf: &Bytes, n: usize) -> Result<(), DecodeError> {
    if buf.remaining() < n {
        Err(DecodeError::new(DecodeErrorKind::UnexpectedEnd {
            needed: n,
            remaining: buf.remaining(),
        }))
    } else {
        Ok(())
    }
}

#[inline]
fn check_len(buf: &Bytes, len: u64) -> Result<usize, DecodeError> {
    if len > buf.remaining() as u64 {
        Err(DecodeError::new(DecodeErrorKind::LengthExceedsFrame {
            length: len,
            remaining: buf.remaining(),
        }))
    } else {
        Ok(len as usize)
    }
}

macro_rules! fixed_readers {
    ($($name:ident: $ty:ty = $get:ident, $n:expr;)*) => {$(
        #[inline]
        pub fn $name(buf: &mut Bytes) -> Result<$ty, DecodeError> {
            need(buf, $n)?;
            Ok(buf.$get())
        }
    )*};
}

fixed_readers! {
    read_i8: i8 = get_i8, 1;
    read_i16: i16 = get_i16, 2;
    read_i32: i32 = get_i32, 4;
    read_i64: i64 = get_i64, 8;
    read_u16: u16 = get_u16, 2;
    read_u32: u32 = get_u32, 4;
    read_f64: f64 = get_f64, 8;
}

#[inline]
pub fn read_bool(buf: &mut Bytes) -> Result<bool, DecodeError> {
    Ok(read_i8(buf)? != 0)
}

#[inline]
pub fn read_uuid(buf: &mut Bytes) -> Result<Uuid, DecodeError> {
    need(buf, 16)?;
    let mut id = [0u8; 16];
    buf.copy_to_slice(&mut id);
    Ok(Uuid(id))
}

/// An unsigned LEB128 varint of at most 32 bits (5 bytes).
#[inline]
pub fn read_uvarint(buf: &mut Bytes) -> Result<u32, DecodeError> {
    let mut value: u32 = 0;
    for i in 0..5 {
        let byte = read_i8(buf)? as u8;
        if i == 4 && byte > 0x0f {
            return Err(DecodeError::new(DecodeErrorKind::VarintTooLong));
        }
        value |= u32::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(DecodeError::new(DecodeErrorKind::VarintTooLong))
}

/// Reads a length prefix: i16/i32 in classic versions, uvarint+1 in compact
/// ones. `None` is null (-1, or 0 in compact form).
#[inline]
fn read_length(buf: &mut Bytes, compact: bool, wide: bool) -> Result<Option<usize>, DecodeError> {
    let len: i64 = if compact {
        i64::from(read_uvarint(buf)?) - 1
    } else if wide {
        i64::from(read_i32(buf)?)
    } else {
        i64::from(read_i16(buf)?)
    };
    match len {
        -1 => Ok(None),
        n if n < 0 => Err(DecodeError::new(DecodeErrorKind::NegativeLength(n))),
        n => check_len(buf, n as u64).map(Some),
    }
}

fn bytes_to_string(bytes: Bytes) -> Result<String, DecodeError> {
    match std::str::from_utf8(&bytes) {
        Ok(s) => Ok(s.to_owned()),
        Err(_) => Err(DecodeError::new(DecodeErrorKind::InvalidUtf8)),
    }
}

pub fn read_nullable_string(buf: &mut Bytes, compact: bool) -> Result<Option<String>, DecodeError> {
    match read_length(buf, compact, false)? {
        None => Ok(None),
        Some(len) => bytes_to_string(buf.split_to(len)).map(Some),
    }
}

pub fn read_string(buf: &mut Bytes, compact: bool) -> Result<String, DecodeError> {
    read_nullable_string(buf, compact)?.ok_or(DecodeError::new(DecodeErrorKind::UnexpectedNull))
}

/// Bytes fields (and `records`) are returned as zero-copy slices of the frame.
pub fn read_nullable_bytes(buf: &mut Bytes, compact: bool) -> Result<Option<Bytes>, DecodeError> {
    Ok(read_length(buf, compact, true)?.map(|len| buf.split_to(len)))
}

pub fn read_bytes(buf: &mut Bytes, compact: bool) -> Result<Bytes, DecodeError> {
    read_nullable_bytes(buf, compact)?.ok_or(DecodeError::new(DecodeErrorKind::UnexpectedNull))
}

/// Reads an array. The element count is checked against the bytes that
/// remain (every element takes at least one byte on the wire) before any
/// allocation, so a hostile count cannot reserve memory the frame does not back.
pub fn read_nullable_array<T>(
    buf: &mut Bytes,
    compact: bool,
    mut element: impl FnMut(&mut Bytes) -> Result<T, DecodeError>,
) -> Result<Option<Vec<T>>, DecodeError> {
    let Some(count) = read_length(buf, compact, true)? else {
        return Ok(None);
    };
    let mut items = Vec::with_capacity(count);
    for i in 0..count {
        items.push(element(buf).map_err(|e| e.at_index(i))?);
    }
    Ok(Some(items))
}

pub fn read_array<T>(
    buf: &mut Bytes,
    compact: bool,
    element: impl FnMut(&mut Bytes) -> Result<T, DecodeError>,
) -> Result<Vec<T>, DecodeError> {
    read_nullable_array(buf, compact, element)?
        .ok_or(DecodeError::new(DecodeErrorKind::UnexpectedNull))
}

/// Reads the presence marker of a nullable struct field: -1 is null.
pub fn read_struct_present(buf: &mut Bytes) -> Result<bool, DecodeError> {
    Ok(read_i8(buf)? >= 0)
}

/// The header of one tagged field: tag and the bytes of its value.
pub fn read_tagged_field(buf: &mut Bytes) -> Result<(u32, Bytes), DecodeError> {
    let tag = read_uvarint(buf)?;
    let size = read_uvarint(buf)?;
    let size = check_len(buf, u64::from(size))?;
    Ok((tag, buf.split_to(size)))
}

/// Checks that a known tagged field consumed exactly the bytes its header gave.
pub fn finish_tagged_field(data: &Bytes, tag: u32) -> Result<(), DecodeError> {
    if data.has_remaining() {
        Err(DecodeError::new(DecodeErrorKind::TaggedFieldSize { tag }))
    } else {
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// Writers and sizes
// ---------------------------------------------------------------------------

#[inline]
pub fn write_bool(buf: &mut BytesMut, v: bool) {
    buf.put_i8(v as i8);
}

#[inline]
pub fn write_uuid(buf: &mut BytesMut, v: &Uuid) {
    buf.put_slice(&v.0);
}

#[inline]
pub fn write_uvarint(buf: &mut BytesMut, mut v: u32) {
    while v >= 0x80 {
        buf.put_u8((v as u8) | 0x80);
        v >>= 7;
    }
    buf.put_u8(v as u8);
}

#[inline]
pub fn uvarint_size(v: u32) -> usize {
    match v {
        0..=0x7f => 1,
        0x80..=0x3fff => 2,
        0x4000..=0x1f_ffff => 3,
        0x20_0000..=0xfff_ffff => 4,
        _ => 5,
    }
}

fn length_to_i32(len: usize) -> Result<i32, EncodeError> {
    // Compact lengths are written as len + 1 in a u32, so stay below i32::MAX.
    i32::try_from(len)
        .ok()
        .filter(|n| *n < i32::MAX)
        .ok_or(EncodeError::new(EncodeErrorKind::TooLong(len)))
}

/// Writes a length prefix; `None` writes null.
fn write_length(
    buf: &mut BytesMut,
    len: Option<usize>,
    compact: bool,
    wide: bool,
) -> Result<(), EncodeError> {
    match (len, compact) {
        (None, true) => write_uvarint(buf, 0),
        (None, false) if wide => buf.put_i32(-1),
        (None, false) => buf.put_i16(-1),
        (Some(n), true) => write_uvarint(buf, length_to_i32(n)? as u32 + 1),
        (Some(n), false) if wide => buf.put_i32(length_to_i32(n)?),
        (Some(n), false) => buf.put_i16(
            i16::try_from(n).map_err(|_| EncodeError::new(EncodeErrorKind::StringTooLong(n)))?,
        ),
    }
    Ok(())
}

fn length_size(len: Option<usize>, compact: bool, wide: bool) -> usize {
    match (len, compact) {
        (None, true) => 1,
        (Some(n), true) => uvarint_size((n as u32).wrapping_add(1)),
        (_, false) if wide => 4,
        (_, false) => 2,
    }
}

pub fn write_nullable_string(
    buf: &mut BytesMut,
    v: Option<&str>,
    compact: bool,
) -> Result<(), EncodeError> {
    write_length(buf, v.map(str::len), compact, false)?;
    if let Some(s) = v {
        buf.put_slice(s.as_bytes());
    }
    Ok(())
}

pub fn write_string(buf: &mut BytesMut, v: &str, compact: bool) -> Result<(), EncodeError> {
    write_nullable_string(buf, Some(v), compact)
}

pub fn nullable_string_size(v: Option<&str>, compact: bool) -> usize {
    length_size(v.map(str::len), compact, false) + v.map_or(0, str::len)
}

pub fn string_size(v: &str, compact: bool) -> usize {
    nullable_string_size(Some(v), compact)
}

pub fn write_nullable_bytes(
    buf: &mut BytesMut,
    v: Option<&[u8]>,
    compact: bool,
) -> Result<(), EncodeError> {
    write_length(buf, v.map(<[u8]>::len), compact, true)?;
    if let Some(b) = v {
        if !splice_shared(buf.len(), b) {
            buf.put_slice(b);
        }
    }
    Ok(())
}

// Bytes fields that are referenced rather than copied: while
// `with_shared_bytes` runs, a bytes field whose value *is* (same address,
// same length) the next of the given `Bytes` is left out of the buffer and
// recorded as (position in the buffer, Bytes) instead. Encoding is
// synchronous, so a thread-local scope is exact. Referencing memory that is
// identical to what would have been copied cannot change the encoding; a
// value that does not match is simply copied.
struct SharedScope {
    candidates: Vec<Bytes>,
    next: usize,
    spliced: Vec<(usize, Bytes)>,
}

thread_local! {
    static SHARED: std::cell::RefCell<Option<SharedScope>> = const { std::cell::RefCell::new(None) };
}

fn splice_shared(at: usize, v: &[u8]) -> bool {
    if v.is_empty() {
        return false;
    }
    SHARED.with(|shared| {
        let mut shared = shared.borrow_mut();
        let Some(scope) = shared.as_mut() else {
            return false;
        };
        match scope.candidates.get(scope.next) {
            Some(c) if c.as_ptr() == v.as_ptr() && c.len() == v.len() => {
                let c = c.clone();
                scope.next += 1;
                scope.spliced.push((at, c));
                true
            }
            _ => false,
        }
    })
}

/// Runs `encode` with `candidates` (in the order the encoder meets them)
/// referenced instead of copied; returns its result and the references as
/// (position in the output buffer where the bytes belong, bytes), in order.
pub(crate) fn with_shared_bytes<T>(
    candidates: Vec<Bytes>,
    encode: impl FnOnce() -> T,
) -> (T, Vec<(usize, Bytes)>) {
    struct Reset(Option<SharedScope>);
    impl Drop for Reset {
        fn drop(&mut self) {
            let previous = self.0.take();
            let _ = SHARED.try_with(|s| *s.borrow_mut() = previous);
        }
    }
    let previous = SHARED.with(|s| {
        s.borrow_mut().replace(SharedScope {
            candidates,
            next: 0,
            spliced: Vec::new(),
        })
    });
    let reset = Reset(previous);
    let result = encode();
    let spliced = SHARED
        .with(|s| {
            s.borrow_mut()
                .as_mut()
                .map(|scope| std::mem::take(&mut scope.spliced))
        })
        .unwrap_or_default();
    drop(reset);
    (result, spliced)
}

pub fn write_bytes(buf: &mut BytesMut, v: &[u8], compact: bool) -> Result<(), EncodeError> {
    write_nullable_bytes(buf, Some(v), compact)
}

pub fn nullable_bytes_size(v: Option<&[u8]>, compact: bool) -> usize {
    length_size(v.map(<[u8]>::len), compact, true) + v.map_or(0, <[u8]>::len)
}

pub fn bytes_size(v: &[u8], compact: bool) -> usize {
    nullable_bytes_size(Some(v), compact)
}

/// Writes an array's length prefix (elements follow, written by the caller).
pub fn write_array_len(
    buf: &mut BytesMut,
    len: Option<usize>,
    compact: bool,
) -> Result<(), EncodeError> {
    write_length(buf, len, compact, true)
}

pub fn array_len_size(len: Option<usize>, compact: bool) -> usize {
    length_size(len, compact, true)
}

/// Writes a slice of elements with its length prefix.
pub fn write_array<T>(
    buf: &mut BytesMut,
    items: &[T],
    compact: bool,
    mut element: impl FnMut(&mut BytesMut, &T) -> Result<(), EncodeError>,
) -> Result<(), EncodeError> {
    write_array_len(buf, Some(items.len()), compact)?;
    for (i, item) in items.iter().enumerate() {
        element(buf, item).map_err(|e| e.at_index(i))?;
    }
    Ok(())
}

pub fn array_size<T>(items: &[T], compact: bool, element: impl FnMut(&T) -> usize) -> usize {
    array_len_size(Some(items.len()), compact) + items.iter().map(element).sum::<usize>()
}

pub fn write_nullable_array<T>(
    buf: &mut BytesMut,
    items: Option<&[T]>,
    compact: bool,
    element: impl FnMut(&mut BytesMut, &T) -> Result<(), EncodeError>,
) -> Result<(), EncodeError> {
    match items {
        None => write_array_len(buf, None, compact),
        Some(items) => write_array(buf, items, compact, element),
    }
}

pub fn nullable_array_size<T>(
    items: Option<&[T]>,
    compact: bool,
    element: impl FnMut(&T) -> usize,
) -> usize {
    match items {
        None => array_len_size(None, compact),
        Some(items) => array_size(items, compact, element),
    }
}

/// Rejects a decoded null where this version does not allow it.
#[inline]
pub fn null_check<T>(value: Option<T>, nullable: bool) -> Result<Option<T>, DecodeError> {
    if value.is_none() && !nullable {
        Err(DecodeError::new(DecodeErrorKind::UnexpectedNull))
    } else {
        Ok(value)
    }
}

/// Rejects a null about to be encoded where this version does not allow it.
#[inline]
pub fn non_null<T>(
    value: Option<T>,
    nullable: bool,
    version: i16,
) -> Result<Option<T>, EncodeError> {
    if value.is_none() && !nullable {
        Err(EncodeError::new(EncodeErrorKind::NullNotAllowed {
            version,
        }))
    } else {
        Ok(value)
    }
}

/// A struct field that may be null: in nullable versions a one-byte marker
/// (-1 null, 1 present) precedes it; otherwise it is always present.
pub fn read_optional_struct<T>(
    buf: &mut Bytes,
    nullable: bool,
    read: impl FnOnce(&mut Bytes) -> Result<T, DecodeError>,
) -> Result<Option<T>, DecodeError> {
    if nullable && !read_struct_present(buf)? {
        return Ok(None);
    }
    read(buf).map(Some)
}

pub fn write_optional_struct<T>(
    buf: &mut BytesMut,
    value: Option<&T>,
    nullable: bool,
    version: i16,
    write: impl FnOnce(&mut BytesMut, &T) -> Result<(), EncodeError>,
) -> Result<(), EncodeError> {
    match (value, nullable) {
        (None, true) => {
            buf.put_i8(-1);
            Ok(())
        }
        (None, false) => Err(EncodeError::new(EncodeErrorKind::NullNotAllowed {
            version,
        })),
        (Some(v), true) => {
            buf.put_i8(1);
            write(buf, v)
        }
        (Some(v), false) => write(buf, v),
    }
}

pub fn optional_struct_size<T>(
    value: Option<&T>,
    nullable: bool,
    size: impl FnOnce(&T) -> usize,
) -> usize {
    usize::from(nullable) + value.map_or(0, size)
}

/// Reads a tagged-field section in which no tag is known to this version.
pub fn read_unknown_tagged_fields(
    buf: &mut Bytes,
    unknown: &mut Vec<RawTaggedField>,
) -> Result<(), DecodeError> {
    let count = read_uvarint(buf)?;
    // Each field takes at least two bytes, so the loop is bounded by the frame.
    for _ in 0..count {
        let (tag, data) = read_tagged_field(buf)?;
        unknown.push(RawTaggedField { tag, data });
    }
    Ok(())
}

/// Writes the header of one tagged field.
pub fn write_tagged_header(buf: &mut BytesMut, tag: u32, size: usize) -> Result<(), EncodeError> {
    write_uvarint(buf, tag);
    write_uvarint(buf, length_to_i32(size)? as u32);
    Ok(())
}

pub fn tagged_header_size(tag: u32, size: usize) -> usize {
    uvarint_size(tag) + uvarint_size(size as u32)
}

/// Writes the unknown tagged fields whose tag is below `below` (they must be
/// interleaved with the known ones in ascending tag order) and advances `next`.
pub fn write_unknown_tagged_below(
    buf: &mut BytesMut,
    fields: &[RawTaggedField],
    next: &mut usize,
    below: u32,
) -> Result<(), EncodeError> {
    while let Some(field) = fields.get(*next) {
        if field.tag >= below {
            break;
        }
        write_tagged_header(buf, field.tag, field.data.len())?;
        buf.put_slice(&field.data);
        *next += 1;
    }
    Ok(())
}

/// Writes the unknown tagged fields from index `next` on.
pub fn write_unknown_tagged_rest(
    buf: &mut BytesMut,
    fields: &[RawTaggedField],
    next: usize,
) -> Result<(), EncodeError> {
    for field in fields.get(next..).unwrap_or_default() {
        write_tagged_header(buf, field.tag, field.data.len())?;
        buf.put_slice(&field.data);
    }
    Ok(())
}

pub fn unknown_tagged_size(fields: &[RawTaggedField]) -> usize {
    fields
        .iter()
        .map(|f| tagged_header_size(f.tag, f.data.len()) + f.data.len())
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uvarint_round_trip_and_size() {
        for v in [
            0u32,
            1,
            127,
            128,
            16_383,
            16_384,
            2_097_151,
            2_097_152,
            u32::MAX,
        ] {
            let mut buf = BytesMut::new();
            write_uvarint(&mut buf, v);
            assert_eq!(buf.len(), uvarint_size(v), "size of {v}");
            let mut bytes = buf.freeze();
            assert_eq!(read_uvarint(&mut bytes).unwrap(), v);
            assert!(bytes.is_empty());
        }
    }

    #[test]
    fn uvarint_rejects_overlong() {
        let mut b = Bytes::from_static(&[0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
        assert_eq!(
            read_uvarint(&mut b).unwrap_err().kind,
            DecodeErrorKind::VarintTooLong
        );
        let mut b = Bytes::from_static(&[0xff, 0xff, 0xff, 0xff, 0x1f]);
        assert_eq!(
            read_uvarint(&mut b).unwrap_err().kind,
            DecodeErrorKind::VarintTooLong
        );
    }

    #[test]
    fn huge_array_count_is_rejected_before_allocation() {
        let mut b = Bytes::from_static(&[0x7f, 0xff, 0xff, 0xff, 0x00]);
        let err = read_array(&mut b, false, read_i32).unwrap_err();
        assert_eq!(
            err.kind,
            DecodeErrorKind::LengthExceedsFrame {
                length: 0x7fff_ffff,
                remaining: 1
            }
        );
    }

    #[test]
    fn strings_classic_and_compact() {
        for compact in [false, true] {
            let mut buf = BytesMut::new();
            write_nullable_string(&mut buf, None, compact).unwrap();
            write_string(&mut buf, "héllo", compact).unwrap();
            assert_eq!(
                buf.len(),
                nullable_string_size(None, compact) + string_size("héllo", compact)
            );
            let mut b = buf.freeze();
            assert_eq!(read_nullable_string(&mut b, compact).unwrap(), None);
            assert_eq!(read_string(&mut b, compact).unwrap(), "héllo");
        }
    }

    #[test]
    fn null_string_where_not_nullable_is_an_error() {
        let mut b = Bytes::from_static(&[0xff, 0xff]);
        assert_eq!(
            read_string(&mut b, false).unwrap_err().kind,
            DecodeErrorKind::UnexpectedNull
        );
    }

    #[test]
    fn negative_lengths_are_rejected() {
        let mut b = Bytes::from_static(&[0xff, 0xfe, 0, 0]);
        assert_eq!(
            read_string(&mut b, false).unwrap_err().kind,
            DecodeErrorKind::NegativeLength(-2)
        );
    }

    #[test]
    fn invalid_utf8_is_rejected() {
        let mut b = Bytes::from_static(&[0, 2, 0xc3, 0x28]);
        assert_eq!(
            read_string(&mut b, false).unwrap_err().kind,
            DecodeErrorKind::InvalidUtf8
        );
    }

    #[test]
    fn error_path_prints_outermost_first() {
        let e = DecodeError::new(DecodeErrorKind::InvalidUtf8)
            .in_field("name")
            .at_index(2)
            .in_field("topics");
        assert_eq!(e.to_string(), "string is not valid UTF-8 at topics[2].name");
    }

    #[test]
    fn uuid_displays_as_kafka_base64() {
        let id = Uuid([0; 16]);
        assert_eq!(id.to_string(), "AAAAAAAAAAAAAAAAAAAAAA");
        let mut bytes = [0u8; 16];
        bytes[15] = 1;
        assert_eq!(Uuid(bytes).to_string(), "AAAAAAAAAAAAAAAAAAAAAQ");
    }
}
