//! The approver agent's pre-edits through a language model: the proposal it
//! predicts will be rejected, the past feedback on similar ones and the
//! brand's rules go into the prompt; the answer must keep the proposal's
//! shape (checked here against the proposal, and again by the core).

use crate::answer::{conform, parse_json_answer};
use crate::anthropic::{Llm, LlmRequest};
use async_trait::async_trait;
use greenlight_core::ports::{EditAnswer, EditRequest, ProposalEditor};
use std::sync::Arc;

/// The most output tokens an edit may take.
const MAX_TOKENS: u32 = 8192;

pub struct LlmEditor {
    llm: Arc<dyn Llm>,
}

impl LlmEditor {
    pub fn new(llm: Arc<dyn Llm>) -> LlmEditor {
        LlmEditor { llm }
    }
}

/// The system prompt: what to change and what to keep.
pub const EDITOR_SYSTEM: &str = "You edit marketing proposals so that the people who approve them will. \
You get a proposal as JSON, the feedback those people wrote when they rejected similar proposals, \
why a model expects this one to be rejected, and the brand's rules. Change only what the feedback \
and the rules ask for, keep everything else word for word, and never add claims, products, spend \
or items. Answer with the edited proposal only: JSON of exactly the same shape (the same fields \
and types, no field added or removed, lists no longer), no commentary.";

/// The user prompt for a request.
pub fn edit_prompt(req: &EditRequest) -> String {
    let list = |items: &[String]| {
        if items.is_empty() {
            "- (none)".to_string()
        } else {
            items
                .iter()
                .map(|i| format!("- {i}"))
                .collect::<Vec<_>>()
                .join("\n")
        }
    };
    format!(
        "Workflow: {}. Gate: {}. The proposal is the `{}`.\n\n\
         Feedback people wrote on similar proposals they rejected:\n{}\n\n\
         Why it is expected to be rejected:\n{}\n\n\
         The brand's rules:\n{}\n\n\
         The proposal:\n```json\n{}\n```",
        req.workflow_name,
        req.gate_label,
        req.field,
        list(&req.feedback),
        list(&req.reasons),
        list(&req.brand_rules),
        serde_json::to_string_pretty(&req.proposal).unwrap_or_default()
    )
}

#[async_trait]
impl ProposalEditor for LlmEditor {
    async fn edit(&self, req: &EditRequest) -> Result<EditAnswer, String> {
        let response = self
            .llm
            .complete(&LlmRequest {
                system: EDITOR_SYSTEM.into(),
                prompt: edit_prompt(req),
                max_tokens: MAX_TOKENS,
            })
            .await
            .map_err(|e| e.to_string())?;
        let answer =
            parse_json_answer(&response.text).map_err(|e| format!("the answer was not JSON: {e}"))?;
        let proposal = conform(&req.proposal, &answer)
            .map_err(|e| format!("the answer does not have the proposal's shape: {e}"))?;
        Ok(EditAnswer {
            proposal,
            cost_micros: response.cost_micros(),
            model: response.model,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::anthropic::{LlmError, LlmResponse};
    use serde_json::json;
    use std::sync::Mutex;

    /// A model that answers with a fixed text and keeps the prompts it got.
    struct Canned {
        text: String,
        prompts: Mutex<Vec<LlmRequest>>,
    }

    #[async_trait]
    impl Llm for Canned {
        async fn complete(&self, req: &LlmRequest) -> Result<LlmResponse, LlmError> {
            self.prompts.lock().unwrap().push(req.clone());
            Ok(LlmResponse {
                model: "claude-test".into(),
                text: self.text.clone(),
                input_tokens: 900,
                output_tokens: 120,
                stop_reason: Some("end_turn".into()),
            })
        }
    }

    fn request() -> EditRequest {
        EditRequest {
            workflow_name: "Campaign Launch".into(),
            gate_label: "Publish".into(),
            field: "post_caption".into(),
            proposal: json!({"text": "Huge sale today!!", "hashtags": ["#LinenAndLoom", "#sale"]}),
            feedback: vec!["We never run sales; no sale talk.".into()],
            reasons: vec!["discount language: “sale”".into()],
            brand_rules: vec!["No discount, sale or promo-code language.".into()],
        }
    }

    #[tokio::test]
    async fn the_prompt_carries_the_feedback_and_the_answer_keeps_the_shape() {
        let llm = Arc::new(Canned {
            text: "```json\n{\"text\": \"New linen, softer with every wash.\", \"hashtags\": [\"#LinenAndLoom\"]}\n```".into(),
            prompts: Mutex::new(Vec::new()),
        });
        let editor = LlmEditor::new(llm.clone());
        let answer = editor.edit(&request()).await.unwrap();
        assert_eq!(
            answer.proposal,
            json!({"text": "New linen, softer with every wash.", "hashtags": ["#LinenAndLoom"]})
        );
        assert_eq!(answer.model, "claude-test");
        let sent = llm.prompts.lock().unwrap()[0].clone();
        assert!(
            sent.prompt.contains("We never run sales; no sale talk."),
            "{}",
            sent.prompt
        );
        assert!(sent.prompt.contains("No discount, sale or promo-code language."));
        assert!(sent.prompt.contains("\"#sale\""), "the proposal is in the prompt");
        assert_eq!(sent.system, EDITOR_SYSTEM);
    }

    #[tokio::test]
    async fn an_answer_of_another_shape_is_refused() {
        for text in [
            "Sure! Here it is: no JSON at all",
            "{\"caption\": \"x\"}",
            "[1, 2]",
        ] {
            let editor = LlmEditor::new(Arc::new(Canned {
                text: text.into(),
                prompts: Mutex::new(Vec::new()),
            }));
            let err = editor.edit(&request()).await.unwrap_err();
            assert!(err.contains("JSON") || err.contains("shape"), "{text}: {err}");
        }
    }
}
