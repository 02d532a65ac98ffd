//! The LLM port and its real adapter: the Anthropic Messages API
//! (`POST {base_url}/v1/messages`).

use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::retry::{Failed, RetryPolicy, retry_after, retrying, snippet};

/// The model used when `GREENLIGHT_LLM_MODEL` is not set.
pub const DEFAULT_MODEL: &str = "claude-sonnet-4-5";
/// The API used when `ANTHROPIC_BASE_URL` is not set.
pub const DEFAULT_BASE_URL: &str = "https://api.anthropic.com";
/// The `anthropic-version` header every request carries.
pub const ANTHROPIC_VERSION: &str = "2023-06-01";
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
pub const DEFAULT_MAX_RETRIES: u32 = 4;

/// One call to a model: a system prompt, one user message, an output cap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LlmRequest {
    pub system: String,
    pub prompt: String,
    pub max_tokens: u32,
}

/// What the model answered, and what the call was billed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LlmResponse {
    /// The model that answered, as the API names it.
    pub model: String,
    /// The text blocks of the answer, concatenated.
    pub text: String,
    pub input_tokens: i64,
    pub output_tokens: i64,
    /// Why the model stopped (`end_turn`, `max_tokens`, …), when the API said.
    pub stop_reason: Option<String>,
}

impl LlmResponse {
    /// The call's cost in micro-dollars, from the price table of
    /// [`greenlight_agents::cost`].
    pub fn cost_micros(&self) -> i64 {
        greenlight_agents::cost::llm_cost_micros(&self.model, self.input_tokens, self.output_tokens)
    }

    /// Whether the answer was cut off by the request's `max_tokens`.
    pub fn truncated(&self) -> bool {
        self.stop_reason.as_deref() == Some("max_tokens")
    }
}

/// Why a model call failed. Every message says what happened and, where
/// there is one, what to do about it; none carries the API key.
#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    #[error(
        "ANTHROPIC_API_KEY is not set: set it to use the Anthropic API, or leave it unset to run the offline agents"
    )]
    MissingKey,
    #[error("the LLM configuration is not valid: {0}")]
    Config(String),
    #[error("the Anthropic API refused the key ({status}): {message}; check ANTHROPIC_API_KEY")]
    Auth { status: u16, message: String },
    #[error("the Anthropic API rejected the request ({status} {kind}): {message}")]
    Rejected {
        status: u16,
        kind: String,
        message: String,
    },
    #[error("the Anthropic API rate-limited the requests (429) after {attempts} attempts: {message}")]
    RateLimited { attempts: u32, message: String },
    #[error("the Anthropic API was overloaded after {attempts} attempts: {message}")]
    Overloaded { attempts: u32, message: String },
    #[error("the Anthropic API failed ({status}) after {attempts} attempts: {message}")]
    Server {
        status: u16,
        attempts: u32,
        message: String,
    },
    #[error("could not reach the Anthropic API at {url} after {attempts} attempts: {message}")]
    Network {
        url: String,
        attempts: u32,
        message: String,
    },
    #[error("the Anthropic API did not answer within {secs} s, {attempts} attempts")]
    Timeout { secs: u64, attempts: u32 },
    #[error("the Anthropic API's answer was not in the Messages format: {0}")]
    MalformedResponse(String),
}

impl LlmError {
    /// Whether trying again later may help (the attempts ran out on a
    /// transient failure), as opposed to a request or key that is wrong.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            LlmError::RateLimited { .. }
                | LlmError::Overloaded { .. }
                | LlmError::Server { .. }
                | LlmError::Network { .. }
                | LlmError::Timeout { .. }
        )
    }
}

/// A language model.
#[async_trait]
pub trait Llm: Send + Sync {
    async fn complete(&self, req: &LlmRequest) -> Result<LlmResponse, LlmError>;
}

/// How to reach the Anthropic API. [`AnthropicConfig::from_env`] reads the
/// environment once; `Debug` never shows the key.
#[derive(Clone)]
pub struct AnthropicConfig {
    api_key: String,
    pub model: String,
    pub base_url: String,
    /// Per attempt, connection and answer.
    pub timeout: Duration,
    pub retry: RetryPolicy,
}

impl std::fmt::Debug for AnthropicConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AnthropicConfig")
            .field("api_key", &"[redacted]")
            .field("model", &self.model)
            .field("base_url", &self.base_url)
            .field("timeout", &self.timeout)
            .field("retry", &self.retry)
            .finish()
    }
}

impl AnthropicConfig {
    /// A configuration with the defaults and this key.
    pub fn new(api_key: impl Into<String>) -> AnthropicConfig {
        AnthropicConfig {
            api_key: api_key.into(),
            model: DEFAULT_MODEL.into(),
            base_url: DEFAULT_BASE_URL.into(),
            timeout: DEFAULT_TIMEOUT,
            retry: RetryPolicy {
                max_retries: DEFAULT_MAX_RETRIES,
                ..RetryPolicy::default()
            },
        }
    }

    /// From the environment: `ANTHROPIC_API_KEY` (required),
    /// `GREENLIGHT_LLM_MODEL` (default `claude-sonnet-4-5`),
    /// `ANTHROPIC_BASE_URL` (default `https://api.anthropic.com`),
    /// `GREENLIGHT_LLM_TIMEOUT_SECS` (default 60) and
    /// `GREENLIGHT_LLM_MAX_RETRIES` (default 4).
    pub fn from_env() -> Result<AnthropicConfig, LlmError> {
        AnthropicConfig::from_vars(|k| std::env::var(k).ok())
    }

    /// As [`from_env`](Self::from_env), reading variables through `var`.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<AnthropicConfig, LlmError> {
        let get = |k: &str| var(k).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        let key = get("ANTHROPIC_API_KEY").ok_or(LlmError::MissingKey)?;
        let mut cfg = AnthropicConfig::new(key);
        if let Some(model) = get("GREENLIGHT_LLM_MODEL") {
            cfg.model = model;
        }
        if let Some(url) = get("ANTHROPIC_BASE_URL") {
            cfg.base_url = check_base_url("ANTHROPIC_BASE_URL", &url).map_err(LlmError::Config)?;
        }
        if let Some(t) = get("GREENLIGHT_LLM_TIMEOUT_SECS") {
            cfg.timeout = parse_secs("GREENLIGHT_LLM_TIMEOUT_SECS", &t).map_err(LlmError::Config)?;
        }
        if let Some(r) = get("GREENLIGHT_LLM_MAX_RETRIES") {
            cfg.retry.max_retries =
                parse_retries("GREENLIGHT_LLM_MAX_RETRIES", &r).map_err(LlmError::Config)?;
        }
        Ok(cfg)
    }

    /// Whether a key is set (it is never shown).
    pub fn has_key(&self) -> bool {
        !self.api_key.trim().is_empty()
    }
}

/// The HTTP client both hosted clients use: the request timeout, and a
/// connect timeout of at most 10 s within it.
pub(crate) fn http_client(timeout: Duration) -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(10)))
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))
}

pub(crate) fn check_base_url(var: &str, url: &str) -> Result<String, String> {
    let url = url.trim().trim_end_matches('/');
    if url.starts_with("http://") || url.starts_with("https://") {
        Ok(url.to_string())
    } else {
        Err(format!("{var} must be an http:// or https:// URL, not {url:?}"))
    }
}

pub(crate) fn parse_secs(var: &str, v: &str) -> Result<Duration, String> {
    match v.parse::<f64>() {
        Ok(s) if s.is_finite() && s > 0.0 && s <= 3600.0 => Ok(Duration::from_secs_f64(s)),
        _ => Err(format!(
            "{var} must be a number of seconds between 0 and 3600, not {v:?}"
        )),
    }
}

pub(crate) fn parse_retries(var: &str, v: &str) -> Result<u32, String> {
    match v.parse::<u32>() {
        Ok(n) if n <= 20 => Ok(n),
        _ => Err(format!("{var} must be a whole number from 0 to 20, not {v:?}")),
    }
}

/// The Anthropic Messages API client.
#[derive(Debug, Clone)]
pub struct AnthropicClient {
    config: AnthropicConfig,
    http: reqwest::Client,
    url: String,
}

impl AnthropicClient {
    pub fn new(config: AnthropicConfig) -> Result<AnthropicClient, LlmError> {
        if !config.has_key() {
            return Err(LlmError::MissingKey);
        }
        let base = check_base_url("the base URL", &config.base_url).map_err(LlmError::Config)?;
        let http = http_client(config.timeout).map_err(LlmError::Config)?;
        Ok(AnthropicClient {
            url: format!("{base}/v1/messages"),
            config,
            http,
        })
    }

    /// Reads [`AnthropicConfig::from_env`] and builds the client.
    pub fn from_env() -> Result<AnthropicClient, LlmError> {
        AnthropicClient::new(AnthropicConfig::from_env()?)
    }

    pub fn config(&self) -> &AnthropicConfig {
        &self.config
    }

    pub fn model(&self) -> &str {
        &self.config.model
    }

    fn body(&self, req: &LlmRequest) -> Value {
        let mut body = json!({
            "model": self.config.model,
            "max_tokens": req.max_tokens.max(1),
            "messages": [{"role": "user", "content": req.prompt}],
        });
        if !req.system.trim().is_empty()
            && let Some(o) = body.as_object_mut()
        {
            o.insert("system".into(), Value::String(req.system.clone()));
        }
        body
    }

    async fn attempt(&self, body: &Value, attempt: u32) -> Result<LlmResponse, Failed<LlmError>> {
        let sent = self
            .http
            .post(&self.url)
            .header("x-api-key", &self.config.api_key)
            .header("anthropic-version", ANTHROPIC_VERSION)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .json(body)
            .send()
            .await;
        let resp = match sent {
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
            return parse_messages_response(&text, &self.config.model).map_err(Failed::fatal);
        }
        let (kind, message) = api_error(&text);
        let overloaded = status == 529 || kind == "overloaded_error";
        Err(match status {
            _ if overloaded => Failed::retry(
                LlmError::Overloaded {
                    attempts: attempt,
                    message,
                },
                after,
            ),
            429 => Failed::retry(
                LlmError::RateLimited {
                    attempts: attempt,
                    message,
                },
                after,
            ),
            408 | 500..=599 => Failed::retry(
                LlmError::Server {
                    status,
                    attempts: attempt,
                    message,
                },
                after,
            ),
            401 | 403 => Failed::fatal(LlmError::Auth { status, message }),
            _ => Failed::fatal(LlmError::Rejected {
                status,
                kind: if kind.is_empty() { "error".into() } else { kind },
                message,
            }),
        })
    }

    fn transport_error(&self, e: &reqwest::Error, attempt: u32) -> Failed<LlmError> {
        if e.is_builder() {
            return Failed::fatal(LlmError::Config(format!("cannot build the request: {e}")));
        }
        if e.is_timeout() {
            return Failed::retry(
                LlmError::Timeout {
                    secs: self.config.timeout.as_secs().max(1),
                    attempts: attempt,
                },
                None,
            );
        }
        Failed::retry(
            LlmError::Network {
                url: self.url.clone(),
                attempts: attempt,
                message: error_chain(e),
            },
            None,
        )
    }
}

#[async_trait]
impl Llm for AnthropicClient {
    async fn complete(&self, req: &LlmRequest) -> Result<LlmResponse, LlmError> {
        let body = self.body(req);
        tracing::debug!(model = %self.config.model, max_tokens = req.max_tokens, "calling the Anthropic API");
        let resp = retrying(&self.config.retry, "anthropic", |attempt| {
            self.attempt(&body, attempt)
        })
        .await?;
        tracing::info!(
            model = %resp.model,
            input_tokens = resp.input_tokens,
            output_tokens = resp.output_tokens,
            stop_reason = resp.stop_reason.as_deref().unwrap_or(""),
            "the model answered"
        );
        Ok(resp)
    }
}

/// An error and its sources, one line.
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(inner) = source {
        let t = inner.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        source = inner.source();
    }
    s
}

/// The `error.type` and `error.message` of an API error body, or a snippet
/// of whatever the body was.
pub(crate) fn api_error(body: &str) -> (String, String) {
    let parsed: Option<Value> = serde_json::from_str(body).ok();
    let err = parsed.as_ref().and_then(|v| v.get("error"));
    let kind = err
        .and_then(|e| e.get("type"))
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let message = err
        .and_then(|e| e.get("message"))
        .and_then(Value::as_str)
        .map(|m| snippet(m, 300))
        .unwrap_or_else(|| {
            if body.trim().is_empty() {
                "(empty body)".to_string()
            } else {
                snippet(body, 300)
            }
        });
    (kind, message)
}

#[derive(Deserialize)]
struct WireResponse {
    #[serde(default)]
    model: Option<String>,
    content: Vec<WireBlock>,
    usage: WireUsage,
    #[serde(default)]
    stop_reason: Option<String>,
}

#[derive(Deserialize)]
struct WireBlock {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    text: Option<String>,
}

#[derive(Deserialize)]
struct WireUsage {
    input_tokens: u64,
    output_tokens: u64,
}

/// Parses a Messages API success body: the `text` blocks of `content`,
/// concatenated, and `usage`.
pub fn parse_messages_response(body: &str, requested_model: &str) -> Result<LlmResponse, LlmError> {
    let wire: WireResponse = serde_json::from_str(body)
        .map_err(|e| LlmError::MalformedResponse(format!("{e}; the body began {:?}", snippet(body, 120))))?;
    let text: String = wire
        .content
        .iter()
        .filter(|b| b.kind == "text")
        .filter_map(|b| b.text.as_deref())
        .collect();
    let tokens = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    Ok(LlmResponse {
        model: wire
            .model
            .map(|m| m.trim().to_string())
            .filter(|m| !m.is_empty())
            .unwrap_or_else(|| requested_model.to_string()),
        text,
        input_tokens: tokens(wire.usage.input_tokens),
        output_tokens: tokens(wire.usage.output_tokens),
        stop_reason: wire.stop_reason,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_blocks_are_concatenated() {
        let body = r#"{"id":"msg_1","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929",
            "content":[{"type":"text","text":"{\"a\":"},{"type":"tool_use","id":"t","name":"x","input":{}},{"type":"text","text":" 1}"}],
            "stop_reason":"end_turn","usage":{"input_tokens":12,"output_tokens":5}}"#;
        let r = parse_messages_response(body, "m").unwrap();
        assert_eq!(r.text, "{\"a\": 1}");
        assert_eq!(r.model, "claude-sonnet-4-5-20250929");
        assert_eq!((r.input_tokens, r.output_tokens), (12, 5));
        assert!(!r.truncated());
    }

    #[test]
    fn bodies_without_usage_or_content_are_malformed() {
        for body in [
            "",
            "null",
            "{}",
            r#"{"content":[]}"#,
            r#"{"content":"x","usage":{}}"#,
        ] {
            assert!(
                matches!(
                    parse_messages_response(body, "m"),
                    Err(LlmError::MalformedResponse(_))
                ),
                "{body}"
            );
        }
    }

    #[test]
    fn api_errors_are_read_or_quoted() {
        assert_eq!(
            api_error(r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#),
            ("overloaded_error".to_string(), "Overloaded".to_string())
        );
        assert_eq!(
            api_error("<html>bad gateway</html>").1,
            "<html>bad gateway</html>"
        );
        assert_eq!(api_error("").1, "(empty body)");
    }

    #[test]
    fn config_from_vars() {
        let vars = |k: &str| match k {
            "ANTHROPIC_API_KEY" => Some("sk-ant-secret".to_string()),
            "ANTHROPIC_BASE_URL" => Some("http://127.0.0.1:9/".to_string()),
            "GREENLIGHT_LLM_TIMEOUT_SECS" => Some("2.5".to_string()),
            _ => None,
        };
        let cfg = AnthropicConfig::from_vars(vars).unwrap();
        assert_eq!(cfg.model, DEFAULT_MODEL);
        assert_eq!(cfg.base_url, "http://127.0.0.1:9");
        assert_eq!(cfg.timeout, Duration::from_millis(2500));
        assert_eq!(cfg.retry.max_retries, 4);
        let debug = format!("{cfg:?}");
        assert!(!debug.contains("sk-ant-secret"), "{debug}");
        assert!(debug.contains("redacted"));
        let client = AnthropicClient::new(cfg).unwrap();
        assert!(!format!("{client:?}").contains("sk-ant-secret"));

        assert!(matches!(
            AnthropicConfig::from_vars(|_| None),
            Err(LlmError::MissingKey)
        ));
        let blank = |k: &str| (k == "ANTHROPIC_API_KEY").then(|| "  ".to_string());
        assert!(matches!(
            AnthropicConfig::from_vars(blank),
            Err(LlmError::MissingKey)
        ));
        let bad = |k: &str| match k {
            "ANTHROPIC_API_KEY" => Some("k".to_string()),
            "GREENLIGHT_LLM_MAX_RETRIES" => Some("lots".to_string()),
            _ => None,
        };
        let e = AnthropicConfig::from_vars(bad).unwrap_err().to_string();
        assert!(e.contains("GREENLIGHT_LLM_MAX_RETRIES"), "{e}");
    }
}
