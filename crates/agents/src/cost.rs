//! What the offline model's work would have cost on a real model.
//!
//! Money here is integer micro-dollars (1 USD = 1_000_000); dollars appear
//! only at the edge, in trail entries' `cost_usd`.

/// Prices of a model, in US dollars per million tokens.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ModelPrice {
    pub input_usd_per_mtok: f64,
    pub output_usd_per_mtok: f64,
}

/// Known models by id prefix (a dated id such as
/// `claude-sonnet-4-5-20250929` matches its family).
const PRICES: &[(&str, ModelPrice)] = &[
    (
        "claude-sonnet-4-5",
        ModelPrice {
            input_usd_per_mtok: 3.0,
            output_usd_per_mtok: 15.0,
        },
    ),
    (
        "claude-haiku-4-5",
        ModelPrice {
            input_usd_per_mtok: 1.0,
            output_usd_per_mtok: 5.0,
        },
    ),
    (
        "claude-opus-4-1",
        ModelPrice {
            input_usd_per_mtok: 15.0,
            output_usd_per_mtok: 75.0,
        },
    ),
    (
        "claude-sonnet-4",
        ModelPrice {
            input_usd_per_mtok: 3.0,
            output_usd_per_mtok: 15.0,
        },
    ),
    (
        "claude-opus-4",
        ModelPrice {
            input_usd_per_mtok: 15.0,
            output_usd_per_mtok: 75.0,
        },
    ),
];

/// The model whose prices an unknown model id is charged at.
pub const DEFAULT_PRICED_MODEL: &str = "claude-sonnet-4-5";

/// A Studio render, at a fixed price: $0.04.
pub const STUDIO_RENDER_MICROS: i64 = 40_000;

pub fn model_price(model: &str) -> ModelPrice {
    let m = model.trim().to_ascii_lowercase();
    PRICES
        .iter()
        .find(|(prefix, _)| m.starts_with(prefix))
        .or_else(|| PRICES.first())
        .map(|&(_, p)| p)
        .unwrap_or(ModelPrice {
            input_usd_per_mtok: 3.0,
            output_usd_per_mtok: 15.0,
        })
}

/// Estimated tokens of a text: one per four characters, rounded up.
pub fn estimate_tokens(text: &str) -> i64 {
    let chars = text.chars().count() as i64;
    (chars + 3) / 4
}

/// Cost of a call in micro-dollars. A price in dollars per million tokens is
/// a price in micro-dollars per token.
pub fn llm_cost_micros(model: &str, input_tokens: i64, output_tokens: i64) -> i64 {
    let p = model_price(model);
    let micros = input_tokens as f64 * p.input_usd_per_mtok + output_tokens as f64 * p.output_usd_per_mtok;
    micros.round() as i64
}

pub fn micros_to_usd(micros: i64) -> f64 {
    micros as f64 / 1_000_000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_per_model() {
        assert_eq!(llm_cost_micros("claude-sonnet-4-5", 1000, 100), 3000 + 1500);
        assert_eq!(llm_cost_micros("claude-haiku-4-5", 1000, 100), 1000 + 500);
        assert_eq!(llm_cost_micros("claude-opus-4-1", 1000, 100), 15000 + 7500);
        assert_eq!(llm_cost_micros("claude-sonnet-4-5-20250929", 10, 0), 30);
        assert_eq!(llm_cost_micros("some-other-model", 1000, 100), 4500);
    }

    #[test]
    fn tokens_round_up() {
        assert_eq!(estimate_tokens(""), 0);
        assert_eq!(estimate_tokens("abcd"), 1);
        assert_eq!(estimate_tokens("abcde"), 2);
        assert_eq!(estimate_tokens("éééé"), 1);
    }

    #[test]
    fn render_price_is_four_cents() {
        assert_eq!(micros_to_usd(STUDIO_RENDER_MICROS), 0.04);
    }
}
