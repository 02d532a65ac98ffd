//! The agents of Greenlight.
//!
//! Each agent is a pure function from an [`AgentInput`] (the brief, the
//! workspace's brand data, the outputs of the steps that ran before it) to an
//! [`AgentOutput`] (a JSON output whose fields the gates show, a reasoning
//! trail, an estimated compute cost and any rendered assets).
//!
//! The agents are deterministic "offline models": no network, no clock, no
//! randomness but a seed derived (SHA-256) from the run id, the step key and
//! the brief, so the same input gives the same output and another brief
//! gives other copy. Every one of them obeys the brand's rules
//! ([`rules::BrandRules`]): no banned word, the emoji policy, no discount
//! language where the brand or the brief's notes rule it out, no claim a
//! product cannot prove, and the shop's field limits.
//!
//! Each call records a reasoning trail in API.md's shape (one `llm` entry
//! with the prompt a real model would have been sent, priced as
//! `priced_model` by [`cost`]; a `studio` entry per rendered asset; `rule`
//! entries for Compliance's checks) and its cost in micro-dollars.
//!
//! Code map: `offline` (seed, brief accessors, prompt blocks, trail ledger),
//! `rules` (the brand rules), `text` and `words` (matching, fitting, emoji),
//! `facts` (what the data says about a product), `render` (the local
//! Studio's SVG), `cost` (model prices), one module per agent (`listing`,
//! `content`, `compliance`, `ads`, `outreach`, `audit`, `triage`,
//! `next_moves`, `synthesis`) and `load` (reading a workspace directory).
//!
//! This crate does no IO, except [`load_workspace_dir`], which reads a
//! workspace's brand data from a directory for the caller.

mod types;
pub use types::*;

mod ads;
mod audit;
mod compliance;
mod content;
pub mod cost;
mod facts;
mod listing;
mod load;
mod next_moves;
mod offline;
mod outreach;
pub mod render;
pub mod rules;
mod synthesis;
pub mod text;
mod triage;
pub mod words;

pub use ads::{split_cents, usd_text};
pub use load::{LoadError, load_workspace_dir, parse_workspace};
pub use offline::seed_digest;
pub use triage::{WITHHELD_TEXT, classify as classify_comment, summary_line as triage_summary_line};

/// Runs the agent `input.agent` names.
pub fn run(input: &AgentInput<'_>) -> Result<AgentOutput, AgentError> {
    match input.agent {
        AgentId::ListingOptimizer => listing::run(input),
        AgentId::ContentProducer => content::run(input),
        AgentId::Compliance => compliance::run(input),
        AgentId::AdCampaignDirector => ads::run(input),
        AgentId::CreatorOutreach => outreach::run(input),
        AgentId::ProfileAuditor => audit::run(input),
        AgentId::CommentTriage => triage::run(input),
        AgentId::NextMoveRecommender => next_moves::run(input),
        AgentId::Synthesis => synthesis::run(input),
    }
}

/// What `GET /api/agents` lists: one entry per agent, in [`AgentId::ALL`] order.
pub fn catalog() -> Vec<AgentInfo> {
    AgentId::ALL.into_iter().map(info).collect()
}

/// The catalog entry of one agent.
pub fn info(id: AgentId) -> AgentInfo {
    let (name, description, outputs, uses_studio): (
        &'static str,
        &'static str,
        &'static [&'static str],
        bool,
    ) = match id {
        AgentId::ListingOptimizer => (
            "Listing Optimizer",
            "Writes three shop listing options per product (title, bullets, description), each from a different angle, within the shop's field limits.",
            &["variants", "notes"],
            false,
        ),
        AgentId::ContentProducer => (
            "Content Producer",
            "Plans a social post for the brief (hook, visual, caption and hashtags) and has the Studio render its image.",
            &["post_brief", "post_caption", "asset_url"],
            true,
        ),
        AgentId::Compliance => (
            "Compliance",
            "Checks the Content Producer's caption against the brand's and the platform's rules, fixes what breaks them and lists each fix.",
            &["issues", "post_caption", "asset_url", "passed"],
            false,
        ),
        AgentId::AdCampaignDirector => (
            "Ad Campaign Director",
            "Splits the brief's ad budget exactly across two to four audience and placement campaigns, with headlines and a Studio-rendered creative.",
            &["campaigns", "daily_budget_usd", "days", "total_usd", "summary"],
            true,
        ),
        AgentId::CreatorOutreach => (
            "Creator Outreach",
            "Drafts a direct message to each of up to five creators in the brand's voice, personalised to their niche, with the brand's creator offer.",
            &["drafts"],
            false,
        ),
        AgentId::ProfileAuditor => (
            "Profile Auditor",
            "Audits the shop as it stands against the brand's rules and field limits and lists findings with fixes and a score.",
            &["findings", "score", "summary"],
            false,
        ),
        AgentId::CommentTriage => (
            "Comment Triage",
            "Classifies the newest post's comments (question, complaint, praise, purchase intent, spam), flags instruction attempts and drafts replies.",
            &["post_id", "comments", "counts", "summary"],
            false,
        ),
        AgentId::NextMoveRecommender => (
            "Next-Move Recommender",
            "Turns the comment triage into three to five ranked next moves, each with the evidence behind it.",
            &["moves"],
            false,
        ),
        AgentId::Synthesis => (
            "Synthesis",
            "Writes the run report: what each step proposed, every decision and approver comment, partial failures, actions and cost.",
            &["markdown", "approver_comments", "rejections", "cost_usd"],
            false,
        ),
    };
    AgentInfo {
        id: id.as_str(),
        name,
        description,
        outputs,
        uses_studio,
    }
}
