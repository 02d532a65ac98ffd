//! The Studio port: renders a post or ad creative. [`StudioClient`] calls a
//! hosted renderer over HTTP; [`LocalStudio`] draws the SVG of
//! [`greenlight_agents::render`] on this machine.

use std::time::Duration;

use async_trait::async_trait;
use base64::Engine as _;
use greenlight_agents::Colors;
use greenlight_agents::cost::STUDIO_RENDER_MICROS;
use greenlight_agents::render::{Card, Palette, render_card};
use serde::{Deserialize, Serialize};

use crate::anthropic::{check_base_url, error_chain, http_client, parse_retries, parse_secs};
use crate::retry::{Failed, RetryPolicy, retry_after, retrying, snippet};

pub const DEFAULT_STUDIO_TIMEOUT: Duration = Duration::from_secs(60);
/// The largest image a hosted renderer may send back.
pub const MAX_RENDER_BYTES: usize = 20 * 1024 * 1024;

/// What to render. The hosted renderer gets it as JSON.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RenderRequest {
    /// The art direction, in words (what the trail's `studio` entry shows).
    pub brief: String,
    pub width: u32,
    pub height: u32,
    /// The brand's colours.
    pub colors: Colors,
    /// The big text: the post's hook, the ad's headline.
    pub title: String,
    /// The line in the bottom panel: the tagline.
    pub subtitle: String,
    /// The brand's name (wordmark).
    pub brand: String,
    /// The small line above the title: the product's name.
    pub eyebrow: String,
    /// The corner label ("Instagram post", "Sponsored").
    pub label: String,
}

/// A rendered image and what it cost.
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    pub content_type: String,
    pub bytes: Vec<u8>,
    pub cost_micros: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum StudioError {
    #[error(
        "GREENLIGHT_STUDIO_URL is not set: set it to use a hosted Studio, or leave it unset to render locally"
    )]
    MissingUrl,
    #[error("the Studio configuration is not valid: {0}")]
    Config(String),
    #[error("the Studio refused the key ({status}): {message}; check GREENLIGHT_STUDIO_API_KEY")]
    Auth { status: u16, message: String },
    #[error("the Studio rejected the render request ({status}): {message}")]
    Rejected { status: u16, message: String },
    #[error("the Studio failed ({status}) after {attempts} attempts: {message}")]
    Server {
        status: u16,
        attempts: u32,
        message: String,
    },
    #[error("could not reach the Studio at {url} after {attempts} attempts: {message}")]
    Network {
        url: String,
        attempts: u32,
        message: String,
    },
    #[error("the Studio did not answer within {secs} s, {attempts} attempts")]
    Timeout { secs: u64, attempts: u32 },
    #[error("the Studio's answer was not valid: {0}")]
    MalformedResponse(String),
}

/// A renderer.
#[async_trait]
pub trait Studio: Send + Sync {
    async fn render(&self, req: &RenderRequest) -> Result<Rendered, StudioError>;
}

/// The local renderer: an SVG card in the brand's colours, at $0.04.
#[derive(Debug, Clone, Copy, Default)]
pub struct LocalStudio;

#[async_trait]
impl Studio for LocalStudio {
    async fn render(&self, req: &RenderRequest) -> Result<Rendered, StudioError> {
        let palette = Palette::from_colors(&req.colors);
        let svg = render_card(&Card {
            width: req.width,
            height: req.height,
            palette: &palette,
            brand: &req.brand,
            eyebrow: &req.eyebrow,
            headline: &req.title,
            footer: &req.subtitle,
            label: &req.label,
        });
        Ok(Rendered {
            content_type: "image/svg+xml".into(),
            bytes: svg.into_bytes(),
            cost_micros: STUDIO_RENDER_MICROS,
        })
    }
}

/// How to reach a hosted Studio; `Debug` never shows the key.
#[derive(Clone)]
pub struct StudioConfig {
    api_key: Option<String>,
    pub base_url: String,
    pub timeout: Duration,
    pub retry: RetryPolicy,
}

impl std::fmt::Debug for StudioConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StudioConfig")
            .field("api_key", &self.api_key.as_ref().map(|_| "[redacted]"))
            .field("base_url", &self.base_url)
            .field("timeout", &self.timeout)
            .field("retry", &self.retry)
            .finish()
    }
}

impl StudioConfig {
    pub fn new(base_url: impl Into<String>, api_key: Option<String>) -> StudioConfig {
        StudioConfig {
            api_key: api_key.filter(|k| !k.trim().is_empty()),
            base_url: base_url.into(),
            timeout: DEFAULT_STUDIO_TIMEOUT,
            retry: RetryPolicy::default(),
        }
    }

    /// From the environment: `GREENLIGHT_STUDIO_URL` (required),
    /// `GREENLIGHT_STUDIO_API_KEY` (sent as a bearer token when set),
    /// `GREENLIGHT_STUDIO_TIMEOUT_SECS` (default 60) and
    /// `GREENLIGHT_STUDIO_MAX_RETRIES` (default 4).
    pub fn from_env() -> Result<StudioConfig, StudioError> {
        StudioConfig::from_vars(|k| std::env::var(k).ok())
    }

    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<StudioConfig, StudioError> {
        let get = |k: &str| var(k).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        let url = get("GREENLIGHT_STUDIO_URL").ok_or(StudioError::MissingUrl)?;
        let url = check_base_url("GREENLIGHT_STUDIO_URL", &url).map_err(StudioError::Config)?;
        let mut cfg = StudioConfig::new(url, get("GREENLIGHT_STUDIO_API_KEY"));
        if let Some(t) = get("GREENLIGHT_STUDIO_TIMEOUT_SECS") {
            cfg.timeout = parse_secs("GREENLIGHT_STUDIO_TIMEOUT_SECS", &t).map_err(StudioError::Config)?;
        }
        if let Some(r) = get("GREENLIGHT_STUDIO_MAX_RETRIES") {
            cfg.retry.max_retries =
                parse_retries("GREENLIGHT_STUDIO_MAX_RETRIES", &r).map_err(StudioError::Config)?;
        }
        Ok(cfg)
    }
}

/// The hosted Studio: `POST {base_url}/v1/renders` with a [`RenderRequest`],
/// answered by `{"content_type", "data_base64", "cost_usd"}`.
#[derive(Debug, Clone)]
pub struct StudioClient {
    config: StudioConfig,
    http: reqwest::Client,
    url: String,
}

#[derive(Deserialize)]
struct WireRender {
    content_type: String,
    data_base64: String,
    cost_usd: f64,
}

impl StudioClient {
    pub fn new(config: StudioConfig) -> Result<StudioClient, StudioError> {
        let base = check_base_url("the Studio URL", &config.base_url).map_err(StudioError::Config)?;
        let http = http_client(config.timeout).map_err(StudioError::Config)?;
        Ok(StudioClient {
            url: format!("{base}/v1/renders"),
            config,
            http,
        })
    }

    pub fn from_env() -> Result<StudioClient, StudioError> {
        StudioClient::new(StudioConfig::from_env()?)
    }

    pub fn config(&self) -> &StudioConfig {
        &self.config
    }

    async fn attempt(&self, req: &RenderRequest, attempt: u32) -> Result<Rendered, Failed<StudioError>> {
        let mut builder = self
            .http
            .post(&self.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .json(req);
        if let Some(key) = &self.config.api_key {
            builder = builder.bearer_auth(key);
        }
        let resp = match builder.send().await {
            Ok(r) => r,
            Err(e) => return Err(self.transport_error(&e, attempt)),
        };
        let status = resp.status().as_u16();
        let after = retry_after(resp.headers());
        let text = match resp.text().await {
            Ok(t) => t,
            Err(e) => return Err(self.transport_error(&e, attempt)),
        };
        if (200..300).contains(&status) {
            return parse_render(&text).map_err(Failed::fatal);
        }
        let (_, message) = crate::anthropic::api_error(&text);
        Err(match status {
            408 | 429 | 500..=599 => Failed::retry(
                StudioError::Server {
                    status,
                    attempts: attempt,
                    message,
                },
                after,
            ),
            401 | 403 => Failed::fatal(StudioError::Auth { status, message }),
            _ => Failed::fatal(StudioError::Rejected { status, message }),
        })
    }

    fn transport_error(&self, e: &reqwest::Error, attempt: u32) -> Failed<StudioError> {
        if e.is_builder() {
            return Failed::fatal(StudioError::Config(format!("cannot build the request: {e}")));
        }
        if e.is_timeout() {
            return Failed::retry(
                StudioError::Timeout {
                    secs: self.config.timeout.as_secs().max(1),
                    attempts: attempt,
                },
                None,
            );
        }
        Failed::retry(
            StudioError::Network {
                url: self.url.clone(),
                attempts: attempt,
                message: error_chain(e),
            },
            None,
        )
    }
}

fn parse_render(body: &str) -> Result<Rendered, StudioError> {
    let wire: WireRender = serde_json::from_str(body).map_err(|e| {
        StudioError::MalformedResponse(format!("{e}; the body began {:?}", snippet(body, 120)))
    })?;
    let content_type = wire.content_type.trim().to_ascii_lowercase();
    if !content_type.starts_with("image/") {
        return Err(StudioError::MalformedResponse(format!(
            "content_type {:?} is not an image type",
            snippet(&wire.content_type, 60)
        )));
    }
    let data: String = wire.data_base64.chars().filter(|c| !c.is_whitespace()).collect();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(data.as_bytes())
        .map_err(|e| StudioError::MalformedResponse(format!("data_base64 is not valid base64: {e}")))?;
    if bytes.is_empty() {
        return Err(StudioError::MalformedResponse("the image is empty".into()));
    }
    if bytes.len() > MAX_RENDER_BYTES {
        return Err(StudioError::MalformedResponse(format!(
            "the image is {} bytes, over the {MAX_RENDER_BYTES}-byte limit",
            bytes.len()
        )));
    }
    if !wire.cost_usd.is_finite() || wire.cost_usd < 0.0 || wire.cost_usd > 1000.0 {
        return Err(StudioError::MalformedResponse(format!(
            "cost_usd {} is not a price",
            wire.cost_usd
        )));
    }
    Ok(Rendered {
        content_type,
        bytes,
        cost_micros: (wire.cost_usd * 1_000_000.0).round() as i64,
    })
}

#[async_trait]
impl Studio for StudioClient {
    async fn render(&self, req: &RenderRequest) -> Result<Rendered, StudioError> {
        let r = retrying(&self.config.retry, "studio", |attempt| self.attempt(req, attempt)).await?;
        tracing::info!(
            content_type = %r.content_type,
            bytes = r.bytes.len(),
            cost_micros = r.cost_micros,
            "the Studio rendered"
        );
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_bodies() {
        let ok =
            parse_render(r#"{"content_type":"image/png","data_base64":"aGVsbG8=","cost_usd":0.04}"#).unwrap();
        assert_eq!(ok.bytes, b"hello");
        assert_eq!(ok.cost_micros, 40_000);
        for bad in [
            r#"{"content_type":"image/png","data_base64":"***","cost_usd":0.04}"#,
            r#"{"content_type":"text/html","data_base64":"aGVsbG8=","cost_usd":0.04}"#,
            r#"{"content_type":"image/png","data_base64":"","cost_usd":0.04}"#,
            r#"{"content_type":"image/png","data_base64":"aGVsbG8=","cost_usd":-1}"#,
            r#"{"content_type":"image/png","data_base64":"aGVsbG8="}"#,
            "not json",
        ] {
            assert!(
                matches!(parse_render(bad), Err(StudioError::MalformedResponse(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn config_from_vars_redacts_the_key() {
        let vars = |k: &str| match k {
            "GREENLIGHT_STUDIO_URL" => Some("https://studio.example/".to_string()),
            "GREENLIGHT_STUDIO_API_KEY" => Some("studio-secret".to_string()),
            _ => None,
        };
        let cfg = StudioConfig::from_vars(vars).unwrap();
        assert_eq!(cfg.base_url, "https://studio.example");
        assert!(!format!("{cfg:?}").contains("studio-secret"));
        assert!(matches!(
            StudioConfig::from_vars(|_| None),
            Err(StudioError::MissingUrl)
        ));
        let bad = |k: &str| (k == "GREENLIGHT_STUDIO_URL").then(|| "ftp://x".to_string());
        assert!(matches!(
            StudioConfig::from_vars(bad),
            Err(StudioError::Config(_))
        ));
    }
}
