//! Evaluation with a time-ordered split: train on the older decisions, test
//! on the newer, as the model would have been used.

use crate::model::{Example, Model, TrainError, Verdict};
use greenlight_agents::BrandProfile;
use serde::Serialize;

/// The auto-approve thresholds an evaluation reports.
pub const THRESHOLDS: [f64; 8] = [0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.99];

/// What auto-approve would have done at one confidence threshold: approve
/// what the model predicts approved at that confidence or more, unless it
/// breaks one of the brand's written rules.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AtThreshold {
    pub threshold: f64,
    /// Test decisions it would have approved on its own.
    pub auto_approved: usize,
    /// Of those, how many a person had rejected.
    pub false_accepts: usize,
    /// `false_accepts / auto_approved` (0 when none were auto-approved).
    pub false_accept_rate: f64,
    /// `auto_approved / test decisions`: the attention it would have saved.
    pub coverage: f64,
}

/// An evaluation of one gate's history.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Evaluation {
    pub train: usize,
    pub test: usize,
    /// Rejections in the test part.
    pub test_rejected: usize,
    /// Predicted rejections that people rejected, that they approved, and
    /// people's rejections not predicted.
    pub caught: usize,
    pub false_alarms: usize,
    pub missed: usize,
    /// Share of test decisions whose verdict the model predicted.
    pub agreement: f64,
    /// Of the predicted rejections, the share people rejected.
    pub precision: f64,
    /// Of the people's rejections, the share predicted.
    pub recall: f64,
    /// Mean squared error of the predicted probability of rejection: how
    /// well the confidence is calibrated (0 is perfect; always saying 50% scores 0.25).
    pub brier: f64,
    pub thresholds: Vec<AtThreshold>,
}

/// Trains on the oldest `train_share` of `examples` (by `at`) and tests on the rest.
pub fn evaluate(
    brand: &BrandProfile,
    examples: &[Example],
    train_share: f64,
) -> Result<Evaluation, TrainError> {
    let mut sorted: Vec<&Example> = examples.iter().collect();
    sorted.sort_by(|a, b| a.at.cmp(&b.at));
    let cut = ((sorted.len() as f64) * train_share.clamp(0.05, 0.95)).round() as usize;
    let train: Vec<Example> = sorted[..cut].iter().map(|e| (*e).clone()).collect();
    let test = &sorted[cut..];
    let model = Model::train(brand, &train)?;
    // (p_reject, rejected by a person, breaks a written rule)
    let predictions: Vec<(f64, bool, bool)> = test
        .iter()
        .map(|e| {
            let o = crate::features::observe(&e.proposal, brand, e.context);
            let p = model.predict_observed(&o);
            (
                p.p_reject,
                e.verdict == Verdict::Reject,
                !o.rule_breaks(brand).is_empty(),
            )
        })
        .collect();
    let n = predictions.len();
    let tp = predictions.iter().filter(|(p, r, _)| *p >= 0.5 && *r).count();
    let fp = predictions.iter().filter(|(p, r, _)| *p >= 0.5 && !*r).count();
    let fnn = predictions.iter().filter(|(p, r, _)| *p < 0.5 && *r).count();
    let agree = predictions.iter().filter(|(p, r, _)| (*p >= 0.5) == *r).count();
    let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    let brier = if n == 0 {
        0.0
    } else {
        predictions
            .iter()
            .map(|(p, r, _)| (p - if *r { 1.0 } else { 0.0 }).powi(2))
            .sum::<f64>()
            / n as f64
    };
    let thresholds = THRESHOLDS
        .iter()
        .map(|&t| {
            // As auto-approve acts: confident, and no written rule broken.
            let auto: Vec<&(f64, bool, bool)> = predictions
                .iter()
                .filter(|(p, _, breaks)| 1.0 - p >= t && !breaks)
                .collect();
            let false_accepts = auto.iter().filter(|(_, r, _)| *r).count();
            AtThreshold {
                threshold: t,
                auto_approved: auto.len(),
                false_accepts,
                false_accept_rate: ratio(false_accepts, auto.len()),
                coverage: ratio(auto.len(), n),
            }
        })
        .collect();
    Ok(Evaluation {
        train: train.len(),
        test: n,
        test_rejected: tp + fnn,
        caught: tp,
        false_alarms: fp,
        missed: fnn,
        agreement: ratio(agree, n),
        precision: ratio(tp, tp + fp),
        recall: ratio(tp, tp + fnn),
        brier,
        thresholds,
    })
}
