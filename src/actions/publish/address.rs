//! Broker addresses as templates, and the safety rules every rendered one
//! must pass, as a forward's URL must stay under its literal origin.
//!
//! A payload value must not be able to widen where a message goes: a NATS
//! subject rendered as `github.*` or `github.>` would be a wildcard (which
//! NATS refuses to publish to, or which a subscriber on the wildcard would
//! read as another event), `github..push` or `github.` has an empty token,
//! and whitespace splits a protocol line. The same checks apply to the
//! literal parts at load (`hookroute check` reports them, located), and to
//! every rendered value at acceptance: a value that fails makes the job
//! unsendable, dead with the reason, like a forward whose URL did not
//! render.

use super::connector::Address;
use super::registry::BrokerKind;
use crate::config::ConfigError;
use crate::template::{self, Escape, Scope, Text};

/// The rules of one kind of name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rule {
    /// NATS subject: dot-separated tokens, none empty, no `*`/`>`, no
    /// whitespace or control characters.
    NatsSubject,
    /// MQTT topic to publish to: no `+`/`#` wildcards, no NUL, not empty.
    MqttTopic,
    /// Kafka topic: `[A-Za-z0-9._-]`, 1 to 249 characters.
    KafkaTopic,
    /// A Redis stream key, an AMQP routing key or exchange: no whitespace or
    /// control characters, at most 255 bytes (AMQP's short string).
    Name { may_be_empty: bool },
    /// A Kafka record key: any text.
    Any,
}

impl Rule {
    /// Why `value` breaks the rule, if it does.
    pub(crate) fn check(self, value: &str) -> Result<(), String> {
        let spaced = || value.chars().any(|c| c.is_whitespace() || c.is_control());
        match self {
            Rule::NatsSubject => {
                if value.is_empty() {
                    Err("is empty".into())
                } else if spaced() {
                    Err(format!("{value:?} contains whitespace or a control character"))
                } else if value.contains(['*', '>']) {
                    Err(format!("{value:?} contains a wildcard (`*` or `>`); publish to a literal subject"))
                } else if value.split('.').any(str::is_empty) {
                    Err(format!("{value:?} has an empty token (a leading, trailing or doubled `.`)"))
                } else {
                    Ok(())
                }
            }
            Rule::MqttTopic => {
                if value.is_empty() {
                    Err("is empty".into())
                } else if value.contains(['+', '#']) {
                    Err(format!("{value:?} contains a wildcard (`+` or `#`); publish to a literal topic"))
                } else if value.contains('\0') {
                    Err(format!("{value:?} contains a NUL character"))
                } else {
                    Ok(())
                }
            }
            Rule::KafkaTopic => {
                if value.is_empty() || value.len() > 249 {
                    Err(format!("{value:?} must be 1 to 249 characters long"))
                } else if !value.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')) {
                    Err(format!("{value:?} may use only letters, digits, `.`, `_` and `-`"))
                } else {
                    Ok(())
                }
            }
            Rule::Name { may_be_empty } => {
                if value.is_empty() && !may_be_empty {
                    Err("is empty".into())
                } else if spaced() {
                    Err(format!("{value:?} contains whitespace or a control character"))
                } else if value.len() > 255 {
                    Err("is longer than 255 bytes".into())
                } else {
                    Ok(())
                }
            }
            Rule::Any => Ok(()),
        }
    }
}

/// One name of an address: literal or a template, with its rule.
#[derive(Debug, Clone)]
pub(crate) struct NameTemplate {
    key: &'static str,
    text: Text,
    rule: Rule,
}

impl NameTemplate {
    /// Compiles `source` written at `path`; the literal parts are checked
    /// now (each `{{ }}`/`{% %}` stands for a harmless `x`).
    pub(crate) fn compile(
        key: &'static str,
        source: &str,
        rule: Rule,
        path: &str,
        errors: &mut Vec<ConfigError>,
    ) -> Option<NameTemplate> {
        let at = format!("{path}.{key}");
        if let Err(problem) = rule.check(&with_placeholders(source)) {
            let what = match template::is_template(source) {
                true => format!("the literal parts of {source:?}: "),
                false => String::new(),
            };
            errors.push(ConfigError::new(at, format!("{what}{problem}")));
            return None;
        }
        let text = Text::compile(source, Escape::None, &at, errors)?;
        Some(NameTemplate { key, text, rule })
    }

    /// The value for one event, checked; the error says which key and why.
    pub(crate) fn render(&self, scope: &Scope) -> Result<String, String> {
        let value = self.text.render(scope).map_err(|e| format!("{}: {e}", self.key))?;
        self.rule.check(&value).map_err(|problem| format!("{}: rendered {problem}", self.key))?;
        Ok(value.into_owned())
    }
}

impl NameTemplate {
    /// The name as written (templates unrendered).
    pub(crate) fn source(&self) -> String {
        self.text.source().to_string()
    }
}

/// `source` with every template tag replaced by `x`, to check its literal
/// parts by the same rule as a rendered value.
fn with_placeholders(source: &str) -> String {
    let mut out = String::with_capacity(source.len());
    let mut rest = source;
    while let Some(start) = rest.find(['{']) {
        let tail = &rest[start..];
        let close = match () {
            _ if tail.starts_with("{{") => "}}",
            _ if tail.starts_with("{%") => "%}",
            _ => {
                out.push_str(&rest[..start + 1]);
                rest = &rest[start + 1..];
                continue;
            }
        };
        out.push_str(&rest[..start]);
        match tail.find(close) {
            Some(end) => {
                out.push('x');
                rest = &tail[end + close.len()..];
            }
            None => {
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// The address keys of a `publish:`, compiled for its connection's kind.
#[derive(Debug, Clone)]
pub(crate) enum AddressTemplate {
    Nats { subject: NameTemplate, jetstream: bool },
    Kafka { topic: NameTemplate, key: Option<NameTemplate> },
    Amqp { exchange: NameTemplate, routing_key: NameTemplate },
    Redis { stream: NameTemplate, maxlen: Option<u64> },
    Mqtt { topic: NameTemplate, qos: u8 },
}

impl AddressTemplate {
    /// The address for one event, every name checked.
    pub(crate) fn render(&self, scope: &Scope) -> Result<Address, String> {
        Ok(match self {
            AddressTemplate::Nats { subject, jetstream } => {
                Address::Nats { subject: subject.render(scope)?, jetstream: *jetstream }
            }
            AddressTemplate::Kafka { topic, key } => {
                Address::Kafka { topic: topic.render(scope)?, key: key.as_ref().map(|k| k.render(scope)).transpose()? }
            }
            AddressTemplate::Amqp { exchange, routing_key } => {
                Address::Amqp { exchange: exchange.render(scope)?, routing_key: routing_key.render(scope)? }
            }
            AddressTemplate::Redis { stream, maxlen } => {
                Address::Redis { stream: stream.render(scope)?, maxlen: *maxlen }
            }
            AddressTemplate::Mqtt { topic, qos } => Address::Mqtt { topic: topic.render(scope)?, qos: *qos },
        })
    }
}

impl AddressTemplate {
    /// The address as written, templates unrendered: what an unsendable
    /// job's record shows as where it was meant to go.
    pub(crate) fn placeholder(&self) -> Address {
        match self {
            AddressTemplate::Nats { subject, jetstream } => {
                Address::Nats { subject: subject.source(), jetstream: *jetstream }
            }
            AddressTemplate::Kafka { topic, key } => {
                Address::Kafka { topic: topic.source(), key: key.as_ref().map(NameTemplate::source) }
            }
            AddressTemplate::Amqp { exchange, routing_key } => {
                Address::Amqp { exchange: exchange.source(), routing_key: routing_key.source() }
            }
            AddressTemplate::Redis { stream, maxlen } => Address::Redis { stream: stream.source(), maxlen: *maxlen },
            AddressTemplate::Mqtt { topic, qos } => Address::Mqtt { topic: topic.source(), qos: *qos },
        }
    }
}

/// The keys each kind takes, for "does not fit" errors.
pub(crate) fn keys_of(kind: BrokerKind) -> &'static [&'static str] {
    match kind {
        BrokerKind::Nats => &["subject", "jetstream"],
        BrokerKind::Kafka => &["topic", "key"],
        BrokerKind::Amqp => &["exchange", "routing_key"],
        BrokerKind::Redis => &["stream", "maxlen"],
        BrokerKind::Mqtt => &["topic", "qos"],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nats_subjects_are_literal_and_whole() {
        assert!(Rule::NatsSubject.check("github.push").is_ok());
        for bad in ["", "github.*", "github.>", "a..b", ".a", "a.", "a b", "a\nb", "a.b\t"] {
            assert!(Rule::NatsSubject.check(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn other_rules() {
        assert!(Rule::MqttTopic.check("hooks/github/x").is_ok());
        assert!(Rule::MqttTopic.check("hooks/+/x").is_err());
        assert!(Rule::MqttTopic.check("hooks/#").is_err());
        assert!(Rule::KafkaTopic.check("git-hub.push_1").is_ok());
        assert!(Rule::KafkaTopic.check("a/b").is_err());
        assert!(Rule::Name { may_be_empty: true }.check("").is_ok());
        assert!(Rule::Name { may_be_empty: false }.check("").is_err());
        assert!(Rule::Name { may_be_empty: false }.check("a b").is_err());
    }

    #[test]
    fn literal_parts_are_checked_with_placeholders() {
        assert_eq!(with_placeholders("github.{{ headers['x'] }}"), "github.x");
        assert_eq!(with_placeholders("{{a}}.{% if x %}y{% endif %}"), "x.xyx");
        assert_eq!(with_placeholders("a{b}.c"), "a{b}.c");
        let mut errors = Vec::new();
        assert!(
            NameTemplate::compile("subject", "github.*.{{ json.a }}", Rule::NatsSubject, "p", &mut errors).is_none()
        );
        assert_eq!(errors[0].key_path, "p.subject");
        assert!(errors[0].message.contains("wildcard"), "{}", errors[0].message);
    }
}
