//! The tracer provider behind `telemetry: otlp:`: a ratio sampler that
//! follows a sampled parent, a batch processor on the tokio runtime, and the
//! OTLP exporter — protobuf over HTTP through the reqwest client hookroute
//! already builds (not a second HTTP stack), or gRPC through tonic.
//!
//! The batch processor runs on tokio (not the SDK's own thread) because
//! both transports are async clients that need a tokio reactor.

use std::collections::HashMap;

use bytes::Bytes;
use opentelemetry_http::{HttpClient, HttpError, Request, Response};
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig, WithTonicConfig};
use opentelemetry_sdk::trace::span_processor_with_async_runtime::BatchSpanProcessor;
use opentelemetry_sdk::trace::{BatchConfigBuilder, Sampler, SdkTracerProvider};
use opentelemetry_sdk::Resource;

use super::settings::{Protocol, TraceSettings};

/// Why the exporter could not be built (a URL the collector's client
/// refuses, a header tonic cannot send).
#[derive(Debug, thiserror::Error)]
pub enum ExportSetupError {
    /// The OTLP exporter refused its configuration.
    #[error("cannot set up the OTLP exporter: {0}")]
    Exporter(#[from] opentelemetry_otlp::ExporterBuildError),
    /// The HTTP client for OTLP/HTTP could not be built.
    #[error("cannot set up the OTLP/HTTP client: {0}")]
    Client(#[from] reqwest::Error),
    /// A `headers:` entry gRPC cannot carry as metadata.
    #[error("telemetry.otlp.headers.{0}: not valid as gRPC metadata")]
    Metadata(String),
}

/// Builds the provider; must run inside the tokio runtime (the gRPC
/// channel and the batch task are spawned on it).
pub(super) fn provider(settings: &TraceSettings) -> Result<SdkTracerProvider, ExportSetupError> {
    let exporter = match settings.protocol {
        Protocol::HttpProtobuf => {
            let client = reqwest::Client::builder().timeout(settings.timeout).build()?;
            let headers: HashMap<String, String> =
                settings.headers.iter().map(|(k, v)| (k.clone(), v.expose().to_string())).collect();
            opentelemetry_otlp::SpanExporter::builder()
                .with_http()
                .with_http_client(Client(client))
                .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
                .with_endpoint(settings.endpoint.clone())
                .with_timeout(settings.timeout)
                .with_headers(headers)
                .build()?
        }
        Protocol::Grpc => {
            let mut metadata = tonic::metadata::MetadataMap::new();
            for (name, value) in &settings.headers {
                let key = tonic::metadata::MetadataKey::from_bytes(name.as_bytes());
                let value = value.expose().parse::<tonic::metadata::MetadataValue<_>>();
                match (key, value) {
                    (Ok(key), Ok(value)) => {
                        metadata.insert(key, value);
                    }
                    _ => return Err(ExportSetupError::Metadata(name.clone())),
                }
            }
            opentelemetry_otlp::SpanExporter::builder()
                .with_tonic()
                .with_endpoint(settings.endpoint.clone())
                .with_timeout(settings.timeout)
                .with_metadata(metadata)
                .build()?
        }
    };
    let batch = BatchConfigBuilder::default()
        .with_scheduled_delay(settings.export_interval)
        .with_max_export_timeout(settings.timeout)
        .build();
    let processor =
        BatchSpanProcessor::builder(exporter, opentelemetry_sdk::runtime::Tokio).with_batch_config(batch).build();
    let sampler = Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(settings.sample_ratio)));
    Ok(SdkTracerProvider::builder()
        .with_span_processor(processor)
        .with_sampler(sampler)
        .with_resource(Resource::builder().with_service_name(settings.service_name.clone()).build())
        .build())
}

/// reqwest 0.13 as the OTLP/HTTP client (opentelemetry-http implements its
/// trait only for the reqwest it depends on).
#[derive(Debug)]
struct Client(reqwest::Client);

#[async_trait::async_trait]
impl HttpClient for Client {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let (parts, body) = request.into_parts();
        let answer =
            self.0.request(parts.method, parts.uri.to_string()).headers(parts.headers).body(body).send().await?;
        let status = answer.status();
        let headers = answer.headers().clone();
        let body = answer.bytes().await?;
        let mut response = Response::new(body);
        *response.status_mut() = status;
        *response.headers_mut() = headers;
        Ok(response)
    }
}
