//! Greenlight's real model and renderer.
//!
//! - [`Llm`], the LLM port, and [`AnthropicClient`], its adapter for the
//!   Anthropic Messages API (`POST /v1/messages`): key, model and base URL
//!   from the environment ([`AnthropicConfig::from_env`]), a timeout per
//!   attempt, retries with exponential backoff on 429, 5xx and 529
//!   (overloaded) and on connection failures and timeouts ([`RetryPolicy`]).
//! - [`Studio`], the render port: [`StudioClient`] for a hosted renderer
//!   (`POST /v1/renders`) and [`LocalStudio`], the SVG renderer of
//!   `greenlight-agents`.
//! - [`LlmAgents`], the core's `AgentRunner` with a model behind each agent
//!   (the offline agent gives the prompt and the output's schema; the
//!   model's answer is checked against it and put under the brand's rules).
//! - [`LlmEditor`], the core's `ProposalEditor`: the approver agent's
//!   pre-edits rewritten by the model from the past feedback, in the
//!   proposal's shape.
//!
//! Nothing here panics on what a server or a model sends; every failure is
//! an error whose message says what happened, and none carries a key.

mod agents;
pub mod answer;
mod anthropic;
mod editor;
mod enforce;
mod retry;
mod studio;

pub use agents::{LlmAgents, MAX_MAX_TOKENS, MIN_MAX_TOKENS, system_prompt};
pub use anthropic::{
    ANTHROPIC_VERSION, AnthropicClient, AnthropicConfig, DEFAULT_BASE_URL, DEFAULT_MAX_RETRIES,
    DEFAULT_MODEL, DEFAULT_TIMEOUT, Llm, LlmError, LlmRequest, LlmResponse, parse_messages_response,
};
pub use editor::{EDITOR_SYSTEM, LlmEditor, edit_prompt};
pub use enforce::{CATEGORIES, usd};
pub use retry::{MAX_RETRY_AFTER, RetryPolicy};
pub use studio::{
    DEFAULT_STUDIO_TIMEOUT, LocalStudio, MAX_RENDER_BYTES, RenderRequest, Rendered, Studio, StudioClient,
    StudioConfig, StudioError,
};
