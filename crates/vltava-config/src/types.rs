//! The vocabulary of the definition tables: types, values, validators and
//! the definition record itself.

use std::fmt;

/// Kafka's config value types, with the codes DescribeConfigs v3+ puts in
/// `ConfigType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConfigType {
    Boolean,
    String,
    Int,
    Short,
    Long,
    Double,
    List,
    Class,
    Password,
}

impl ConfigType {
    /// The DescribeConfigs `ConfigType` code (0 is UNKNOWN and never used
    /// for a known key).
    pub const fn describe_code(self) -> i8 {
        match self {
            ConfigType::Boolean => 1,
            ConfigType::String => 2,
            ConfigType::Int => 3,
            ConfigType::Short => 4,
            ConfigType::Long => 5,
            ConfigType::Double => 6,
            ConfigType::List => 7,
            ConfigType::Class => 8,
            ConfigType::Password => 9,
        }
    }

    /// Lower-case name, as Kafka's documentation spells the type.
    pub const fn name(self) -> &'static str {
        match self {
            ConfigType::Boolean => "boolean",
            ConfigType::String => "string",
            ConfigType::Int => "int",
            ConfigType::Short => "short",
            ConfigType::Long => "long",
            ConfigType::Double => "double",
            ConfigType::List => "list",
            ConfigType::Class => "class",
            ConfigType::Password => "password",
        }
    }

    /// Parses text into a value of this type, the way Kafka's `ConfigDef`
    /// does: numbers, booleans, lists and class names are trimmed first;
    /// strings and passwords are taken as they are. Booleans ignore case.
    /// A list is split at commas with the whitespace around them dropped;
    /// empty (or all-whitespace) text is the empty list.
    ///
    /// The error is the reason, for [`crate::ConfigError::InvalidValue`].
    pub fn parse(self, raw: &str) -> Result<ConfigValue, String> {
        let trimmed = raw.trim();
        match self {
            ConfigType::Boolean => {
                if trimmed.eq_ignore_ascii_case("true") {
                    Ok(ConfigValue::Boolean(true))
                } else if trimmed.eq_ignore_ascii_case("false") {
                    Ok(ConfigValue::Boolean(false))
                } else {
                    Err("expected true or false".to_string())
                }
            }
            ConfigType::String => Ok(ConfigValue::String(raw.to_string())),
            ConfigType::Password => Ok(ConfigValue::Password(Password(raw.to_string()))),
            ConfigType::Class => Ok(ConfigValue::Class(trimmed.to_string())),
            ConfigType::Int => trimmed
                .parse()
                .map(ConfigValue::Int)
                .map_err(|_| "expected a 32-bit integer".to_string()),
            ConfigType::Short => trimmed
                .parse()
                .map(ConfigValue::Short)
                .map_err(|_| "expected a 16-bit integer".to_string()),
            ConfigType::Long => trimmed
                .parse()
                .map(ConfigValue::Long)
                .map_err(|_| "expected a 64-bit integer".to_string()),
            ConfigType::Double => match trimmed.parse::<f64>() {
                Ok(v) if !v.is_nan() => Ok(ConfigValue::Double(v)),
                _ => Err("expected a number".to_string()),
            },
            ConfigType::List => Ok(ConfigValue::List(split_list(trimmed))),
        }
    }
}

/// Splits list text at commas, trimming each element; empty text is `[]`.
pub(crate) fn split_list(text: &str) -> Vec<String> {
    let text = text.trim();
    if text.is_empty() {
        Vec::new()
    } else {
        text.split(',').map(|s| s.trim().to_string()).collect()
    }
}

/// How much a key matters, as Kafka ranks it in its documentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Importance {
    High,
    Medium,
    Low,
}

/// When and where a key may change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UpdateMode {
    /// Broker key read at startup only (Kafka's "read-only").
    ReadOnly,
    /// Broker key that can be changed for one broker while it runs.
    PerBroker,
    /// Broker key that can be changed as a cluster-wide default (and also
    /// per broker) while brokers run.
    ClusterWide,
    /// Topic key: every topic key can be overridden per topic at any time.
    PerTopic,
}

/// Where a value came from, with the DescribeConfigs `ConfigSource` codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConfigSource {
    Unknown,
    /// A per-topic override.
    TopicConfig,
    /// Set dynamically for this broker.
    DynamicBrokerConfig,
    /// Set dynamically as the cluster-wide default for all brokers.
    DynamicDefaultBrokerConfig,
    /// Set in the broker's properties file or on its command line.
    StaticBrokerConfig,
    /// Nobody set it: the built-in default.
    DefaultConfig,
    DynamicBrokerLoggerConfig,
    ClientMetricsConfig,
}

impl ConfigSource {
    /// The DescribeConfigs `ConfigSource` code.
    pub const fn code(self) -> i8 {
        match self {
            ConfigSource::Unknown => 0,
            ConfigSource::TopicConfig => 1,
            ConfigSource::DynamicBrokerConfig => 2,
            ConfigSource::DynamicDefaultBrokerConfig => 3,
            ConfigSource::StaticBrokerConfig => 4,
            ConfigSource::DefaultConfig => 5,
            ConfigSource::DynamicBrokerLoggerConfig => 6,
            ConfigSource::ClientMetricsConfig => 7,
        }
    }

    /// The source for a code; codes this crate does not know map to
    /// `Unknown`, as Kafka's clients map them.
    pub const fn from_code(code: i8) -> ConfigSource {
        match code {
            1 => ConfigSource::TopicConfig,
            2 => ConfigSource::DynamicBrokerConfig,
            3 => ConfigSource::DynamicDefaultBrokerConfig,
            4 => ConfigSource::StaticBrokerConfig,
            5 => ConfigSource::DefaultConfig,
            6 => ConfigSource::DynamicBrokerLoggerConfig,
            7 => ConfigSource::ClientMetricsConfig,
            _ => ConfigSource::Unknown,
        }
    }

    /// Kafka's upper-case name (`TOPIC_CONFIG`, ...).
    pub const fn name(self) -> &'static str {
        match self {
            ConfigSource::Unknown => "UNKNOWN",
            ConfigSource::TopicConfig => "TOPIC_CONFIG",
            ConfigSource::DynamicBrokerConfig => "DYNAMIC_BROKER_CONFIG",
            ConfigSource::DynamicDefaultBrokerConfig => "DYNAMIC_DEFAULT_BROKER_CONFIG",
            ConfigSource::StaticBrokerConfig => "STATIC_BROKER_CONFIG",
            ConfigSource::DefaultConfig => "DEFAULT_CONFIG",
            ConfigSource::DynamicBrokerLoggerConfig => "DYNAMIC_BROKER_LOGGER_CONFIG",
            ConfigSource::ClientMetricsConfig => "CLIENT_METRICS_CONFIG",
        }
    }
}

/// A secret. `Debug` and `Display` print `[hidden]`; [`Password::expose`]
/// gives the text to the code that needs it.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    pub fn new(secret: impl Into<String>) -> Password {
        Password(secret.into())
    }

    /// The secret itself.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[hidden]")
    }
}

impl fmt::Display for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[hidden]")
    }
}

/// A parsed config value.
#[derive(Debug, Clone, PartialEq)]
pub enum ConfigValue {
    Boolean(bool),
    String(String),
    Int(i32),
    Short(i16),
    Long(i64),
    Double(f64),
    List(Vec<String>),
    Class(String),
    Password(Password),
}

impl ConfigValue {
    pub fn config_type(&self) -> ConfigType {
        match self {
            ConfigValue::Boolean(_) => ConfigType::Boolean,
            ConfigValue::String(_) => ConfigType::String,
            ConfigValue::Int(_) => ConfigType::Int,
            ConfigValue::Short(_) => ConfigType::Short,
            ConfigValue::Long(_) => ConfigType::Long,
            ConfigValue::Double(_) => ConfigType::Double,
            ConfigValue::List(_) => ConfigType::List,
            ConfigValue::Class(_) => ConfigType::Class,
            ConfigValue::Password(_) => ConfigType::Password,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            ConfigValue::Boolean(b) => Some(*b),
            _ => None,
        }
    }

    /// Int and Short values (widened).
    pub fn as_i32(&self) -> Option<i32> {
        match self {
            ConfigValue::Int(v) => Some(*v),
            ConfigValue::Short(v) => Some(i32::from(*v)),
            _ => None,
        }
    }

    /// Int, Short and Long values (widened).
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            ConfigValue::Int(v) => Some(i64::from(*v)),
            ConfigValue::Short(v) => Some(i64::from(*v)),
            ConfigValue::Long(v) => Some(*v),
            _ => None,
        }
    }

    pub fn as_f64(&self) -> Option<f64> {
        match self {
            ConfigValue::Double(v) => Some(*v),
            _ => None,
        }
    }

    /// String and Class values. Passwords are not returned here; use
    /// [`Password::expose`].
    pub fn as_str(&self) -> Option<&str> {
        match self {
            ConfigValue::String(s) | ConfigValue::Class(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_list(&self) -> Option<&[String]> {
        match self {
            ConfigValue::List(v) => Some(v),
            _ => None,
        }
    }

    /// The text DescribeConfigs reports: the canonical form, or `None` for
    /// a password.
    pub fn describe_string(&self) -> Option<String> {
        match self {
            ConfigValue::Password(_) => None,
            other => Some(other.to_string()),
        }
    }
}

impl fmt::Display for ConfigValue {
    /// The canonical text form (what Kafka's `ConfigDef.convertToString`
    /// gives): lists joined with `,`, doubles as Java prints them,
    /// passwords as `[hidden]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigValue::Boolean(b) => write!(f, "{b}"),
            ConfigValue::String(s) | ConfigValue::Class(s) => f.write_str(s),
            ConfigValue::Int(v) => write!(f, "{v}"),
            ConfigValue::Short(v) => write!(f, "{v}"),
            ConfigValue::Long(v) => write!(f, "{v}"),
            ConfigValue::Double(v) => f.write_str(&java_double(*v)),
            ConfigValue::List(items) => f.write_str(&items.join(",")),
            ConfigValue::Password(p) => write!(f, "{p}"),
        }
    }
}

/// Formats a double the way Java's `Double.toString` does for the values
/// configs hold: plain decimal with at least one fractional digit between
/// 10^-3 and 10^7, `d.dddE±n` outside that.
pub(crate) fn java_double(v: f64) -> String {
    if v.is_infinite() {
        return if v > 0.0 { "Infinity" } else { "-Infinity" }.to_string();
    }
    if v.is_nan() {
        return "NaN".to_string();
    }
    let magnitude = v.abs();
    if v == 0.0 || (1e-3..1e7).contains(&magnitude) {
        let s = format!("{v:?}");
        // Rust's Debug form is the shortest round-trip text, like Java's;
        // it already has a ".0" for whole numbers in this range.
        return s;
    }
    let s = format!("{v:e}");
    let (mantissa, exponent) = s.split_once('e').unwrap_or((&s, "0"));
    let mantissa = if mantissa.contains('.') {
        mantissa.to_string()
    } else {
        format!("{mantissa}.0")
    };
    format!("{mantissa}E{exponent}")
}

/// A check beyond type and range, written as a function.
#[derive(Debug)]
pub struct CustomValidator {
    /// The valid values in a few words (for documentation and errors).
    pub rule: &'static str,
    /// Returns the reason when the value is not valid.
    pub check: fn(&ConfigValue) -> Result<(), String>,
}

/// The rule a value must satisfy beyond parsing as its type.
#[derive(Debug, Clone, Copy)]
pub enum Validator {
    /// Anything that parses.
    Any,
    /// Integer types: at least this.
    AtLeast(i64),
    /// Integer types: within these bounds, inclusive.
    Between(i64, i64),
    /// Doubles: within these bounds, inclusive.
    DoubleBetween(f64, f64),
    /// Strings: exactly one of these (case-sensitive, as Kafka).
    OneOf(&'static [&'static str]),
    /// Lists: every element is one of these (case-sensitive). An empty list
    /// passes.
    ListOf(&'static [&'static str]),
    /// Lists: at least one element, and every element one of these.
    NonEmptyListOf(&'static [&'static str]),
    /// Strings: not empty.
    NonEmptyString,
    /// Anything else.
    Custom(&'static CustomValidator),
}

impl Validator {
    /// Checks a value that already has the right type.
    pub fn check(&self, value: &ConfigValue) -> Result<(), String> {
        match *self {
            Validator::Any => Ok(()),
            Validator::AtLeast(min) => match value.as_i64() {
                Some(v) if v < min => Err(format!("must be at least {min}")),
                _ => Ok(()),
            },
            Validator::Between(min, max) => match value.as_i64() {
                Some(v) if v < min || v > max => Err(format!("must be between {min} and {max}")),
                _ => Ok(()),
            },
            Validator::DoubleBetween(min, max) => match value.as_f64() {
                Some(v) if v < min || v > max => Err(format!(
                    "must be between {} and {}",
                    java_double(min),
                    java_double(max)
                )),
                _ => Ok(()),
            },
            Validator::OneOf(allowed) => match value.as_str() {
                Some(s) if !allowed.contains(&s) => {
                    Err(format!("must be one of: {}", allowed.join(", ")))
                }
                _ => Ok(()),
            },
            Validator::ListOf(allowed) => check_list_of(value, allowed),
            Validator::NonEmptyListOf(allowed) => {
                if value.as_list().is_some_and(|l| l.is_empty()) {
                    return Err(format!("must name at least one of: {}", allowed.join(", ")));
                }
                check_list_of(value, allowed)
            }
            Validator::NonEmptyString => match value.as_str() {
                Some("") => Err("must not be empty".to_string()),
                _ => Ok(()),
            },
            Validator::Custom(custom) => (custom.check)(value),
        }
    }

    /// The valid values in a few words, or `None` when anything goes.
    pub fn rule(&self) -> Option<String> {
        match *self {
            Validator::Any => None,
            Validator::AtLeast(min) => Some(format!("at least {min}")),
            Validator::Between(min, max) => Some(format!("{min} to {max}")),
            Validator::DoubleBetween(min, max) => {
                Some(format!("{} to {}", java_double(min), java_double(max)))
            }
            Validator::OneOf(allowed) => Some(format!("one of: {}", allowed.join(", "))),
            Validator::ListOf(allowed) => Some(format!("a list of: {}", allowed.join(", "))),
            Validator::NonEmptyListOf(allowed) => {
                Some(format!("a non-empty list of: {}", allowed.join(", ")))
            }
            Validator::NonEmptyString => Some("a non-empty string".to_string()),
            Validator::Custom(custom) => Some(custom.rule.to_string()),
        }
    }
}

fn check_list_of(value: &ConfigValue, allowed: &[&str]) -> Result<(), String> {
    if let Some(items) = value.as_list() {
        if let Some(bad) = items.iter().find(|i| !allowed.contains(&i.as_str())) {
            return Err(format!(
                "'{bad}' is not allowed; each element must be one of: {}",
                allowed.join(", ")
            ));
        }
    }
    Ok(())
}

/// How a broker synonym's value converts to its topic key's unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SynonymUnit {
    /// Same unit (and meaning) as the topic key.
    Same,
    /// The broker key is in minutes; the topic key in milliseconds.
    MinutesToMillis,
    /// The broker key is in hours; the topic key in milliseconds.
    HoursToMillis,
}

/// A broker key that supplies the broker-wide default of a topic key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BrokerSynonym {
    pub name: &'static str,
    pub unit: SynonymUnit,
}

/// One key in a definition table.
#[derive(Debug, Clone, Copy)]
pub struct ConfigDef {
    pub name: &'static str,
    pub ty: ConfigType,
    /// The default as text (parsed through [`ConfigType::parse`]), or `None`
    /// when the key has no value unless set (Kafka's `null` default).
    pub default: Option<&'static str>,
    pub validator: Validator,
    pub importance: Importance,
    pub update_mode: UpdateMode,
    /// One line, in our words.
    pub doc: &'static str,
    /// Topic keys only: the broker keys that give the broker-wide default,
    /// most preferred first. Empty for broker keys and for topic keys with
    /// no broker-level counterpart.
    pub synonyms: &'static [BrokerSynonym],
    /// Accepted but never described (Kafka's internal keys).
    pub internal: bool,
}

impl ConfigDef {
    /// Passwords are sensitive: their values are never described.
    pub const fn is_sensitive(&self) -> bool {
        matches!(self.ty, ConfigType::Password)
    }

    /// Read-only keys change only with a restart.
    pub const fn is_read_only(&self) -> bool {
        matches!(self.update_mode, UpdateMode::ReadOnly)
    }

    /// Parses and validates text for this key. The error is the reason.
    pub fn parse(&self, raw: &str) -> Result<ConfigValue, String> {
        let value = self.ty.parse(raw)?;
        self.validator.check(&value)?;
        Ok(value)
    }

    /// The parsed default, if the key has one.
    pub fn default_value(&self) -> Option<ConfigValue> {
        self.default.map(|d| {
            self.parse(d)
                .unwrap_or_else(|e| panic!("table default of {} is invalid: {e}", self.name))
        })
    }

    pub(crate) const fn new(
        name: &'static str,
        ty: ConfigType,
        default: Option<&'static str>,
        importance: Importance,
        update_mode: UpdateMode,
        doc: &'static str,
    ) -> ConfigDef {
        ConfigDef {
            name,
            ty,
            default,
            validator: Validator::Any,
            importance,
            update_mode,
            doc,
            synonyms: &[],
            internal: false,
        }
    }

    pub(crate) const fn check(mut self, validator: Validator) -> ConfigDef {
        self.validator = validator;
        self
    }

    pub(crate) const fn at_least(self, min: i64) -> ConfigDef {
        self.check(Validator::AtLeast(min))
    }

    pub(crate) const fn between(self, min: i64, max: i64) -> ConfigDef {
        self.check(Validator::Between(min, max))
    }

    pub(crate) const fn synonyms(mut self, synonyms: &'static [BrokerSynonym]) -> ConfigDef {
        self.synonyms = synonyms;
        self
    }

    pub(crate) const fn internal(mut self) -> ConfigDef {
        self.internal = true;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_double_formatting() {
        assert_eq!(java_double(0.5), "0.5");
        assert_eq!(java_double(0.9), "0.9");
        assert_eq!(java_double(1.0), "1.0");
        assert_eq!(java_double(0.0), "0.0");
        assert_eq!(java_double(f64::MAX), "1.7976931348623157E308");
        assert_eq!(java_double(1e10), "1.0E10");
        assert_eq!(java_double(1.5e-5), "1.5E-5");
    }

    #[test]
    fn parse_rules() {
        assert_eq!(
            ConfigType::Boolean.parse(" TRUE "),
            Ok(ConfigValue::Boolean(true))
        );
        assert!(ConfigType::Boolean.parse("yes").is_err());
        assert_eq!(ConfigType::Int.parse(" +42 "), Ok(ConfigValue::Int(42)));
        assert!(ConfigType::Int.parse("2147483648").is_err());
        assert_eq!(ConfigType::Short.parse("3"), Ok(ConfigValue::Short(3)));
        assert!(ConfigType::Short.parse("40000").is_err());
        assert_eq!(
            ConfigType::Long.parse("9223372036854775807"),
            Ok(ConfigValue::Long(i64::MAX))
        );
        assert_eq!(
            ConfigType::Double.parse("1.7976931348623157E308"),
            Ok(ConfigValue::Double(f64::MAX))
        );
        assert!(ConfigType::Double.parse("NaN").is_err());
        assert_eq!(
            ConfigType::List.parse(" a , b,c "),
            Ok(ConfigValue::List(vec!["a".into(), "b".into(), "c".into()]))
        );
        assert_eq!(ConfigType::List.parse("  "), Ok(ConfigValue::List(vec![])));
        assert_eq!(
            ConfigType::String.parse(" x "),
            Ok(ConfigValue::String(" x ".into()))
        );
    }

    #[test]
    fn passwords_do_not_leak_through_formatting() {
        let v = ConfigType::Password.parse("s3cret").unwrap();
        assert_eq!(format!("{v}"), "[hidden]");
        assert!(!format!("{v:?}").contains("s3cret"));
        assert_eq!(v.describe_string(), None);
        match v {
            ConfigValue::Password(p) => assert_eq!(p.expose(), "s3cret"),
            _ => unreachable!(),
        }
    }

    #[test]
    fn source_codes_round_trip() {
        for code in 0..=7 {
            assert_eq!(ConfigSource::from_code(code).code(), code);
        }
        assert_eq!(ConfigSource::from_code(42), ConfigSource::Unknown);
    }
}
