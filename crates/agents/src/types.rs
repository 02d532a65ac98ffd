use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The agents the recipes may name (the `agent:` field of a recipe step).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AgentId {
    ListingOptimizer,
    ContentProducer,
    Compliance,
    AdCampaignDirector,
    CreatorOutreach,
    ProfileAuditor,
    CommentTriage,
    NextMoveRecommender,
    Synthesis,
}

impl AgentId {
    pub const ALL: [AgentId; 9] = [
        AgentId::ListingOptimizer,
        AgentId::ContentProducer,
        AgentId::Compliance,
        AgentId::AdCampaignDirector,
        AgentId::CreatorOutreach,
        AgentId::ProfileAuditor,
        AgentId::CommentTriage,
        AgentId::NextMoveRecommender,
        AgentId::Synthesis,
    ];

    /// The snake_case id used in recipes, e.g. `listing_optimizer`.
    pub fn as_str(self) -> &'static str {
        match self {
            AgentId::ListingOptimizer => "listing_optimizer",
            AgentId::ContentProducer => "content_producer",
            AgentId::Compliance => "compliance",
            AgentId::AdCampaignDirector => "ad_campaign_director",
            AgentId::CreatorOutreach => "creator_outreach",
            AgentId::ProfileAuditor => "profile_auditor",
            AgentId::CommentTriage => "comment_triage",
            AgentId::NextMoveRecommender => "next_move_recommender",
            AgentId::Synthesis => "synthesis",
        }
    }

    pub fn parse(s: &str) -> Option<AgentId> {
        AgentId::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

/// What `GET /api/agents` lists about an agent.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AgentInfo {
    pub id: &'static str,
    pub name: &'static str,
    pub description: &'static str,
    /// Top-level fields of the agent's output, e.g. `["variants"]`.
    pub outputs: &'static [&'static str],
    /// Whether the agent renders assets through Studio.
    pub uses_studio: bool,
}

/// A workspace's brand data, as stored in `samplesdata/workspaces/<id>/`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WorkspaceData {
    pub brand: BrandProfile,
    pub products: Vec<Product>,
    pub creators: Vec<Creator>,
    pub posts: Vec<Post>,
    pub shop: ShopProfile,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BrandProfile {
    pub brand_name: String,
    pub tagline: String,
    pub description: String,
    pub voice: Voice,
    pub banned_words: Vec<String>,
    pub emoji_policy: EmojiPolicy,
    pub hashtags: Hashtags,
    pub discount_language_allowed: bool,
    pub claims_requiring_proof: Vec<String>,
    pub colors: Colors,
    pub audiences: Vec<Audience>,
    pub ad_placements: Vec<String>,
    pub creator_offer: String,
    pub shop: ShopLimits,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Voice {
    pub tone: Vec<String>,
    #[serde(rename = "do")]
    pub dos: Vec<String>,
    #[serde(rename = "dont")]
    pub donts: Vec<String>,
    pub sample_phrases: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EmojiPolicy {
    None,
    Sparing,
    Expressive,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Hashtags {
    pub signature: Vec<String>,
    pub pool: Vec<String>,
    pub max_per_post: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Colors {
    pub primary: String,
    pub secondary: String,
    pub accent: String,
    pub text: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Audience {
    pub name: String,
    pub description: String,
    pub interests: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ShopLimits {
    pub platform: String,
    pub title_max_chars: usize,
    pub bullet_max_chars: usize,
    pub bullets_per_listing: usize,
    pub description_max_chars: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Product {
    pub id: String,
    pub name: String,
    pub price_usd: f64,
    pub category: String,
    pub attributes: serde_json::Map<String, Value>,
    pub description: String,
    pub keywords: Vec<String>,
    #[serde(default)]
    pub proof: serde_json::Map<String, Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Creator {
    pub id: String,
    pub handle: String,
    pub name: String,
    pub platform: String,
    pub followers: u64,
    pub niche: String,
    pub audience: String,
    pub tone: String,
    pub past_collaboration: bool,
    pub notes: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Post {
    pub id: String,
    pub platform: String,
    pub posted_at: String,
    pub caption: String,
    pub product_ids: Vec<String>,
    pub comments: Vec<Comment>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Comment {
    pub id: String,
    pub author: String,
    pub text: String,
    pub at: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ShopProfile {
    pub platform: String,
    pub shop_name: String,
    pub url: String,
    pub bio: String,
    pub banner_text: String,
    pub policies: serde_json::Map<String, Value>,
    pub listings: Vec<ShopListing>,
    pub reviews: Value,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ShopListing {
    pub product_id: String,
    pub title: String,
    pub bullets: Vec<String>,
    pub description: String,
    pub photos: u32,
    pub tags: Vec<String>,
}

/// A step of the same run that finished before this agent was called, in the
/// order the steps finished.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PriorStep {
    pub key: String,
    pub label: String,
    /// `agent`, `approval_gate`, `action` or `synthesis`.
    pub kind: String,
    /// The agent id for agent steps.
    pub agent: Option<String>,
    /// `succeeded`, `failed`, `skipped`, …
    pub status: String,
    /// Shared with the run's record: an output is not copied per reader.
    pub output: Option<std::sync::Arc<Value>>,
    /// Compute cost of the step in micro-dollars.
    pub cost_micros: i64,
    /// For gates that were decided: the decision as API.md shows it
    /// (`verdict`, `actor` {member_id, name}, `at`, `comment`, `feedback`).
    pub decision: Option<Value>,
}

/// Everything an agent may look at.
#[derive(Debug, Clone)]
pub struct AgentInput<'a> {
    pub agent: AgentId,
    pub run_id: &'a str,
    pub step_key: &'a str,
    pub step_label: &'a str,
    pub workflow: &'a str,
    pub workflow_name: &'a str,
    pub brief: &'a Value,
    pub workspace: &'a WorkspaceData,
    pub prior_steps: &'a [PriorStep],
    /// Prefix for URLs of assets this step renders; an asset named `x.svg`
    /// is served at `format!("{asset_url_prefix}{name}")`.
    pub asset_url_prefix: &'a str,
    /// The real model whose prices the offline estimate uses.
    pub priced_model: &'a str,
}

/// A rendered file (the Studio's output) to be stored with the run.
#[derive(Debug, Clone, PartialEq)]
pub struct Asset {
    pub name: String,
    pub content_type: String,
    pub bytes: Vec<u8>,
}

#[derive(Debug, Clone)]
pub struct AgentOutput {
    pub output: Value,
    /// Reasoning trail entries, in API.md's shape (`kind`: `llm`, `studio` or `rule`).
    pub trail: Vec<Value>,
    /// Total compute cost of the step in micro-dollars (1 USD = 1_000_000).
    pub cost_micros: i64,
    pub assets: Vec<Asset>,
}

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("the brief is missing `{0}`")]
    MissingBriefField(&'static str),
    #[error("the brief names product `{0}`, which is not in the workspace's catalog")]
    UnknownProduct(String),
    #[error("the agent needs the output of an upstream `{0}` step, and none succeeded")]
    MissingUpstream(&'static str),
    #[error("{0}")]
    Invalid(String),
}
