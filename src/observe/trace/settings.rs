//! `telemetry: otlp:` compiled: checked once at load, every problem located
//! by its key path, so `hookroute check` reports them all and a bad reload
//! keeps the old config serving.

use std::time::Duration;

use crate::config::secret::Secret;
use crate::config::spec::ConfigSpec;
use crate::config::telemetry_spec::OtlpProtocolSpec;
use crate::config::ConfigError;

/// Longest wait of a finished span before export, unless the file says.
const DEFAULT_EXPORT_INTERVAL: Duration = Duration::from_secs(5);
/// Time an export gets, unless the file says.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// The OTLP transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// Protobuf over HTTP POST to `{endpoint}/v1/traces`.
    HttpProtobuf,
    /// gRPC over plain HTTP/2.
    Grpc,
}

/// Where and how traces are exported. Two are equal exactly when exporting
/// by either makes no difference (a reload compares them to warn that a
/// change waits for a restart).
#[derive(Debug, Clone, PartialEq)]
pub struct TraceSettings {
    /// For OTLP/HTTP the full URL spans are posted to (`…/v1/traces`); for
    /// gRPC the collector's URL.
    pub endpoint: String,
    /// The transport.
    pub protocol: Protocol,
    /// Share of new traces recorded, 0.0 to 1.0.
    pub sample_ratio: f64,
    /// Sent with every export (names lower-case).
    pub headers: Vec<(String, Secret)>,
    /// `service.name`.
    pub service_name: String,
    /// Longest wait of a finished span before it is exported.
    pub export_interval: Duration,
    /// Time an export gets.
    pub timeout: Duration,
}

impl TraceSettings {
    /// `telemetry:` of the file, or None without one (nothing traced);
    /// each problem is added to `errors` under its key path.
    pub(crate) fn compile(spec: &ConfigSpec, errors: &mut Vec<ConfigError>) -> Option<TraceSettings> {
        let otlp = spec.telemetry.as_ref()?.otlp.as_ref()?;
        let before = errors.len();
        let protocol = match otlp.protocol {
            Some(OtlpProtocolSpec::Grpc) => Protocol::Grpc,
            Some(OtlpProtocolSpec::HttpProtobuf) | None => Protocol::HttpProtobuf,
        };
        let endpoint = otlp.endpoint.trim().trim_end_matches('/');
        let key = "telemetry.otlp.endpoint";
        match endpoint.parse::<http::Uri>() {
            Ok(uri) if uri.host().is_none() => {
                errors.push(ConfigError::new(key, format!("{endpoint:?} has no host; e.g. http://collector:4318")))
            }
            Ok(uri) => match (uri.scheme_str(), protocol) {
                (Some("http"), _) | (Some("https"), Protocol::HttpProtobuf) => {}
                (Some("https"), Protocol::Grpc) => errors.push(ConfigError::new(
                    key,
                    "gRPC is exported over plain HTTP/2 only; for TLS use protocol: http/protobuf with an https endpoint",
                )),
                (scheme, _) => errors.push(ConfigError::new(
                    key,
                    format!("must start with http:// or https://, not {}", scheme.unwrap_or("nothing")),
                )),
            },
            Err(e) => errors.push(ConfigError::new(key, format!("not a URL: {e}"))),
        }
        let sample_ratio = otlp.sample_ratio.unwrap_or(1.0);
        if !(0.0..=1.0).contains(&sample_ratio) {
            errors.push(ConfigError::new("telemetry.otlp.sample_ratio", "must be between 0.0 and 1.0"));
        }
        let mut headers = Vec::new();
        for (name, value) in &otlp.headers {
            let at = format!("telemetry.otlp.headers.{name}");
            if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
                errors.push(ConfigError::new(at, "not a valid header name"));
            } else if http::HeaderValue::from_str(value.expose()).is_err() {
                errors.push(ConfigError::new(at, "not a valid header value (control characters?)"));
            } else {
                headers.push((name.to_ascii_lowercase(), value.clone()));
            }
        }
        let export_interval = otlp.export_interval.map_or(DEFAULT_EXPORT_INTERVAL, |d| d.0);
        if export_interval.is_zero() {
            errors.push(ConfigError::new("telemetry.otlp.export_interval", "must be more than 0s"));
        }
        let timeout = otlp.timeout.map_or(DEFAULT_TIMEOUT, |d| d.0);
        if timeout.is_zero() {
            errors.push(ConfigError::new("telemetry.otlp.timeout", "must be more than 0s"));
        }
        let endpoint = match protocol {
            Protocol::HttpProtobuf if !endpoint.ends_with("/v1/traces") => format!("{endpoint}/v1/traces"),
            _ => endpoint.to_string(),
        };
        let service_name = otlp.service_name.clone().unwrap_or_else(|| "hookroute".to_string());
        (errors.len() == before).then_some(TraceSettings {
            endpoint,
            protocol,
            sample_ratio,
            headers,
            service_name,
            export_interval,
            timeout,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::interpolate::ProcessEnv;

    fn compile(telemetry: &str) -> (Option<TraceSettings>, Vec<String>) {
        let text = format!("telemetry:\n  otlp:\n{telemetry}routes: []\n");
        let config = crate::config::load("t.yaml", &text, &ProcessEnv).expect("parses");
        let mut errors = Vec::new();
        let settings = TraceSettings::compile(&config.spec, &mut errors);
        (settings, errors.into_iter().map(|e| format!("{}: {}", e.key_path, e.message)).collect())
    }

    #[test]
    fn defaults_and_the_traces_path_beneath_the_endpoint() {
        let (settings, errors) = compile("    endpoint: http://collector:4318/\n");
        assert!(errors.is_empty(), "{errors:?}");
        let settings = settings.expect("compiled");
        assert_eq!(settings.endpoint, "http://collector:4318/v1/traces");
        assert_eq!((settings.protocol, settings.sample_ratio), (Protocol::HttpProtobuf, 1.0));
        assert_eq!((settings.export_interval, settings.timeout), (DEFAULT_EXPORT_INTERVAL, DEFAULT_TIMEOUT));
        let (grpc, _) = compile("    endpoint: http://collector:4317\n    protocol: grpc\n    sample_ratio: 0.25\n");
        let grpc = grpc.expect("compiled");
        assert_eq!(
            (grpc.endpoint.as_str(), grpc.protocol, grpc.sample_ratio),
            ("http://collector:4317", Protocol::Grpc, 0.25)
        );
    }

    #[test]
    fn each_mistake_is_named_by_its_key() {
        let (settings, errors) = compile(
            "    endpoint: https://collector:4317\n    protocol: grpc\n    sample_ratio: 2\n    export_interval: 0s\n    headers: {\"a b\": x}\n",
        );
        assert!(settings.is_none());
        let keys: Vec<&str> = errors.iter().map(|e| e.split(':').next().unwrap_or_default()).collect();
        assert_eq!(
            keys,
            [
                "telemetry.otlp.endpoint",
                "telemetry.otlp.sample_ratio",
                "telemetry.otlp.headers.a b",
                "telemetry.otlp.export_interval"
            ],
            "{errors:?}"
        );
    }
}
