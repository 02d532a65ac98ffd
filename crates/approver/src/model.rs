//! A model per workspace and gate: logistic regression (`linfa-logistic`)
//! over the signals and the words that told approved and rejected proposals
//! apart, with the reasons for each prediction.

use crate::features::{Observed, Signal, SpendContext, Terms, fingerprint, observe, observe_with_texts};
use greenlight_agents::BrandProfile;
use linfa::prelude::*;
use linfa_logistic::LogisticRegression;
use ndarray::{Array1, Array2};
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// The fewest decisions a model is trained from, and the fewest of each verdict.
pub const MIN_DECISIONS: usize = 12;
pub const MIN_PER_VERDICT: usize = 3;
/// At most this many words and phrases become features.
const MAX_TERMS: usize = 40;
/// L2 regularisation strength.
const ALPHA: f64 = 0.1;
/// A word or phrase is a feature only if this many decisions had it, and
/// its rate among rejections and approvals differs by this much.
const MIN_TERM_DOCS: usize = 6;
const MIN_TERM_SPREAD: f64 = 0.2;
/// Words count for less than the signals: their columns are scaled by
/// this after standardising, which strengthens their regularisation (a few
/// hundred decisions do not teach much vocabulary).
const TERM_SCALE: f64 = 0.3;
/// The furthest from the training mean a feature may count, in deviations.
const MAX_Z: f64 = 3.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Approve,
    Reject,
}

/// A past decision, as training data.
#[derive(Debug, Clone)]
pub struct Example {
    pub proposal: Value,
    pub context: SpendContext,
    pub verdict: Verdict,
    /// The rejection's feedback (or an approval's comment).
    pub feedback: Option<String>,
    /// When it was decided (RFC 3339), for quoting.
    pub at: String,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum TrainError {
    #[error(
        "{have} decisions ({rejected} rejected) are too few to learn from: it takes {MIN_DECISIONS}, with at least {MIN_PER_VERDICT} approved and {MIN_PER_VERDICT} rejected"
    )]
    TooFew { have: usize, rejected: usize },
    #[error("the model did not fit: {0}")]
    Fit(String),
}

/// A rejected proposal kept to find similar ones by, with its feedback.
#[derive(Debug, Clone)]
struct Rejection {
    terms: Terms,
    signals: [f64; 11],
    feedback: String,
    at: String,
}

/// One feature that weighed in a prediction.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Weighed {
    /// `emoji`, `discount_language`, … or `phrase:<words>`.
    pub feature: String,
    /// Its pull toward rejection (negative: toward approval), in log-odds.
    pub weight: f64,
    /// What a marketer reads.
    pub text: String,
}

/// Past feedback of a similar rejected proposal.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PastFeedback {
    pub feedback: String,
    pub at: String,
    pub similarity: f64,
}

/// The model's view of one proposal.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Prediction {
    pub verdict: Verdict,
    /// The probability of `verdict`, 0.5–1.0.
    pub confidence: f64,
    /// The probability of a rejection.
    pub p_reject: f64,
    /// The features that weighed most toward `verdict`, strongest first.
    pub weighed: Vec<Weighed>,
    /// The feedback of the most similar rejected proposals.
    pub similar: Vec<PastFeedback>,
}

/// A trained model for one (workspace, workflow, gate).
#[derive(Debug, Clone)]
pub struct Model {
    brand: BrandProfile,
    /// The words and phrases that are features, and their fingerprints.
    terms: Vec<String>,
    prints: Vec<u64>,
    mean: Vec<f64>,
    scale: Vec<f64>,
    weights: Vec<f64>,
    intercept: f64,
    rejections: Vec<Rejection>,
    /// The most hashtags people approved on a post (95th percentile of the
    /// approved proposals that had any), if any had.
    pub approved_hashtags: Option<usize>,
    /// Decisions learnt from, and how many were rejections.
    pub learnt_from: usize,
    pub rejected: usize,
}

fn p_of(verdict: Verdict) -> bool {
    verdict == Verdict::Reject
}

impl Model {
    /// Trains on past decisions (any order).
    pub fn train(brand: &BrandProfile, examples: &[Example]) -> Result<Model, TrainError> {
        let rejected = examples.iter().filter(|e| p_of(e.verdict)).count();
        if examples.len() < MIN_DECISIONS
            || rejected < MIN_PER_VERDICT
            || examples.len() - rejected < MIN_PER_VERDICT
        {
            return Err(TrainError::TooFew {
                have: examples.len(),
                rejected,
            });
        }
        let (observed, texts): (Vec<Observed>, Vec<_>) = examples
            .iter()
            .map(|e| observe_with_texts(&e.proposal, brand, e.context))
            .unzip();
        let terms = choose_terms(&texts, examples);
        let prints: Vec<u64> = terms.iter().map(|t| fingerprint(t)).collect();
        let width = Signal::ALL.len() + terms.len();
        let raw: Vec<Vec<f64>> = observed.iter().map(|o| row(o, &prints)).collect();
        let n = raw.len() as f64;
        let mut mean = vec![0.0; width];
        let mut scale = vec![1.0; width];
        for j in 0..width {
            let m = raw.iter().map(|r| r[j]).sum::<f64>() / n;
            let var = raw.iter().map(|r| (r[j] - m).powi(2)).sum::<f64>() / n;
            mean[j] = m;
            // A constant column carries nothing: keep it at zero.
            scale[j] = if var > 1e-12 {
                column_scale(j, var.sqrt())
            } else {
                0.0
            };
        }
        let mut x = Array2::<f64>::zeros((raw.len(), width));
        for (i, r) in raw.iter().enumerate() {
            for j in 0..width {
                x[[i, j]] = standard(r[j], mean[j], scale[j]);
            }
        }
        let y: Array1<bool> = examples.iter().map(|e| p_of(e.verdict)).collect();
        let data = Dataset::new(x, y);
        let fitted = LogisticRegression::default()
            .alpha(ALPHA)
            .max_iterations(300)
            .fit(&data)
            .map_err(|e| TrainError::Fit(e.to_string()))?;
        // linfa's positive class is the more frequent one: orient toward rejection.
        let sign = if fitted.labels().pos.class { 1.0 } else { -1.0 };
        let weights = fitted.params().iter().map(|w| w * sign).collect();
        let intercept = fitted.intercept() * sign;
        let rejections = examples
            .iter()
            .zip(&observed)
            .filter(|(e, _)| p_of(e.verdict))
            .filter_map(|(e, o)| {
                let feedback = e.feedback.as_deref()?.trim();
                (!feedback.is_empty()).then(|| Rejection {
                    terms: o.terms.clone(),
                    signals: o.signals,
                    feedback: feedback.to_string(),
                    at: e.at.clone(),
                })
            })
            .collect();
        let mut tags: Vec<usize> = examples
            .iter()
            .zip(&observed)
            .filter(|(e, o)| !p_of(e.verdict) && o.max_hashtags > 0)
            .map(|(_, o)| o.max_hashtags)
            .collect();
        tags.sort_unstable();
        let approved_hashtags = (!tags.is_empty()).then(|| tags[(tags.len() - 1) * 95 / 100]);
        Ok(Model {
            approved_hashtags,
            brand: brand.clone(),
            terms,
            prints,
            mean,
            scale,
            weights,
            intercept,
            rejections,
            learnt_from: examples.len(),
            rejected,
        })
    }

    pub fn brand(&self) -> &BrandProfile {
        &self.brand
    }

    /// The learnt pull of a signal toward rejection (per standard deviation).
    pub fn weight_of(&self, s: Signal) -> f64 {
        self.weights[s as usize]
    }

    /// The words and phrases that pull toward rejection, strongest first.
    pub fn rejected_terms(&self) -> Vec<(&str, f64)> {
        let base = Signal::ALL.len();
        let mut out: Vec<(&str, f64)> = self
            .terms
            .iter()
            .enumerate()
            .map(|(i, t)| (t.as_str(), self.weights[base + i]))
            .filter(|(_, w)| *w > 0.0)
            .collect();
        out.sort_by(|a, b| b.1.total_cmp(&a.1));
        out
    }

    /// The probability that a person rejects this proposal.
    pub fn p_reject(&self, o: &Observed) -> f64 {
        let r = row(o, &self.prints);
        let z: f64 = self.intercept
            + r.iter()
                .enumerate()
                .map(|(j, v)| self.weights[j] * standard(*v, self.mean[j], self.scale[j]))
                .sum::<f64>();
        1.0 / (1.0 + (-z).exp())
    }

    /// Predicts a verdict for a proposal, with the reasons.
    pub fn predict(&self, proposal: &Value, context: SpendContext) -> Prediction {
        let o = observe(proposal, &self.brand, context);
        self.predict_observed(&o)
    }

    pub fn predict_observed(&self, o: &Observed) -> Prediction {
        let p = self.p_reject(o);
        let verdict = if p >= 0.5 {
            Verdict::Reject
        } else {
            Verdict::Approve
        };
        let r = row(o, &self.prints);
        let toward = if verdict == Verdict::Reject { 1.0 } else { -1.0 };
        let mut weighed: Vec<Weighed> = r
            .iter()
            .enumerate()
            .map(|(j, v)| (j, self.weights[j] * standard(*v, self.mean[j], self.scale[j])))
            .filter(|(_, c)| c * toward > 0.05)
            // Words speak for a rejection only.
            .filter(|(j, _)| *j < Signal::ALL.len() || verdict == Verdict::Reject)
            // Words only speak when present: an absent word is no reason.
            .filter(|(j, _)| *j < Signal::ALL.len() || r[*j] > 0.0)
            .map(|(j, c)| Weighed {
                feature: self.feature_name(j),
                weight: c,
                text: self.describe(j, o, verdict),
            })
            .collect();
        weighed.sort_by(|a, b| (b.weight * toward).total_cmp(&(a.weight * toward)));
        // Two signals can read the same ("no emoji"): say it once, with both weights.
        let mut merged: Vec<Weighed> = Vec::new();
        for w in weighed {
            match merged.iter_mut().find(|m| m.text == w.text) {
                Some(m) => m.weight += w.weight,
                None => merged.push(w),
            }
        }
        // The words read as one reason, after the signals.
        let (words, mut weighed): (Vec<Weighed>, Vec<Weighed>) =
            merged.into_iter().partition(|w| w.feature.starts_with("phrase:"));
        weighed.truncate(3);
        if !words.is_empty() {
            let shown: Vec<String> = words
                .iter()
                .take(5)
                .map(|w| format!("“{}”", w.feature.trim_start_matches("phrase:")))
                .collect();
            weighed.push(Weighed {
                feature: words[0].feature.clone(),
                weight: words.iter().map(|w| w.weight).sum(),
                text: format!("uses {}, which past rejections share", shown.join(", ")),
            });
            // The individual words stay available to pre-edits.
            weighed.extend(words.into_iter().skip(1).map(|mut w| {
                w.text.clear();
                w
            }));
        }
        let similar = if verdict == Verdict::Reject {
            self.similar_rejections(o, 2)
        } else {
            Vec::new()
        };
        Prediction {
            verdict,
            confidence: if verdict == Verdict::Reject { p } else { 1.0 - p },
            p_reject: p,
            weighed,
            similar,
        }
    }

    fn feature_name(&self, j: usize) -> String {
        match Signal::ALL.get(j) {
            Some(s) => s.name().to_string(),
            None => format!("phrase:{}", self.terms[j - Signal::ALL.len()]),
        }
    }

    /// A feature's part in a prediction, in words.
    fn describe(&self, j: usize, o: &Observed, verdict: Verdict) -> String {
        let reject = verdict == Verdict::Reject;
        let Some(s) = Signal::ALL.get(j) else {
            let term = &self.terms[j - Signal::ALL.len()];
            return if reject {
                format!("uses “{term}”, which past rejections share")
            } else {
                format!("uses “{term}”, as approved proposals do")
            };
        };
        let v = o.signal(*s);
        let policy = format!("{:?}", self.brand.emoji_policy).to_lowercase();
        match s {
            Signal::Emoji | Signal::EmojiOverPolicy if v > 0.0 => {
                format!(
                    "{} emoji (the brand's emoji policy: {policy})",
                    o.signal(Signal::Emoji)
                )
            }
            Signal::Emoji | Signal::EmojiOverPolicy => "no emoji".into(),
            Signal::Hashtags | Signal::HashtagsOverLimit if o.max_hashtags > o.hashtag_limit => format!(
                "{} hashtags on a post, over the brand's {}",
                o.max_hashtags, o.hashtag_limit
            ),
            Signal::Hashtags | Signal::HashtagsOverLimit
                if reject && self.approved_hashtags.is_some_and(|n| o.max_hashtags > n) =>
            {
                format!(
                    "{} hashtags; the posts people approved had at most {}",
                    o.max_hashtags,
                    self.approved_hashtags.unwrap_or_default()
                )
            }
            Signal::Hashtags | Signal::HashtagsOverLimit => format!(
                "{} hashtags, within the brand's {}",
                o.max_hashtags, o.hashtag_limit
            ),
            Signal::Discount if v > 0.0 => format!("discount language: {}", quoted(&o.discount_hits)),
            Signal::Discount => "no discount language".into(),
            Signal::Urgency if v > 0.0 => format!("urgency language: {}", quoted(&o.urgency_hits)),
            Signal::Urgency => "no urgency language".into(),
            Signal::BannedWords if v > 0.0 => format!("the brand's banned words: {}", quoted(&o.banned_hits)),
            Signal::BannedWords => "none of the brand's banned words".into(),
            Signal::Exclamations => format!("{v} exclamation marks"),
            Signal::Length => format!("{} characters of copy", (v * 1000.0).round()),
            Signal::SpendOverBrief => match (o.spend_usd, o.context.brief_budget_usd) {
                (Some(s), Some(b)) if s > b => format!(
                    "spend {} is {:.1}× the brief's budget of {}",
                    usd(s),
                    s / b,
                    usd(b)
                ),
                (Some(s), Some(b)) => format!("spend {} within the brief's budget of {}", usd(s), usd(b)),
                _ => "no spend beyond the brief".into(),
            },
            Signal::SpendOfCap => match (o.spend_usd, o.context.cap_remaining_usd) {
                (Some(s), Some(r)) => format!(
                    "spend {} is {:.0}% of what is left of the monthly cap ({})",
                    usd(s),
                    100.0 * s / r.max(0.01),
                    usd(r)
                ),
                _ => "no spend against the cap".into(),
            },
        }
    }

    /// The feedback of the rejected proposals most like this one: those
    /// that shared most of what the model holds against this proposal.
    pub fn similar_rejections(&self, o: &Observed, n: usize) -> Vec<PastFeedback> {
        let mine = row(o, &self.prints);
        let pull = |j: usize, v: f64| self.weights[j] * standard(v, self.mean[j], self.scale[j]);
        // The features pulling this proposal toward rejection (a word only when present).
        let against: Vec<usize> = (0..mine.len())
            .filter(|&j| pull(j, mine[j]) > 0.1 && (j < Signal::ALL.len() || mine[j] > 0.0))
            .collect();
        let mut scored: Vec<(f64, &Rejection)> = self
            .rejections
            .iter()
            .map(|r| {
                let theirs = row_of(&r.signals, &r.terms, &self.prints);
                let shared = against.iter().filter(|&&j| pull(j, theirs[j]) > 0.1).count();
                let held = if against.is_empty() {
                    0.0
                } else {
                    shared as f64 / against.len() as f64
                };
                let inter = o.terms.shared_with(&r.terms) as f64;
                let union = (o.terms.len() + r.terms.len()) as f64 - inter;
                let words = if union > 0.0 { inter / union } else { 0.0 };
                let s = if against.is_empty() {
                    words
                } else {
                    0.8 * held + 0.2 * words
                };
                (s, r)
            })
            .filter(|(s, _)| *s > 0.15)
            .collect();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| b.1.at.cmp(&a.1.at)));
        let mut out: Vec<PastFeedback> = Vec::new();
        for (s, r) in scored {
            if out.iter().any(|f| f.feedback == r.feedback) {
                continue;
            }
            out.push(PastFeedback {
                feedback: r.feedback.clone(),
                at: r.at.clone(),
                similarity: (s * 100.0).round() / 100.0,
            });
            if out.len() == n {
                break;
            }
        }
        out
    }
}

/// A standardised value, clipped to ±[`MAX_Z`]: a proposal far outside
/// anything the model saw (a caption ten times longer than any before) must
/// not outweigh everything it learnt.
fn standard(v: f64, mean: f64, scale: f64) -> f64 {
    if scale > 0.0 {
        ((v - mean) / scale).clamp(-MAX_Z, MAX_Z)
    } else {
        0.0
    }
}

/// The column's standardising scale: its deviation, larger for words.
fn column_scale(j: usize, deviation: f64) -> f64 {
    if j < Signal::ALL.len() {
        deviation
    } else {
        deviation / TERM_SCALE
    }
}

/// A feature row: the signals, then 1.0 for each chosen term present (by
/// the chosen terms' fingerprints).
fn row(o: &Observed, prints: &[u64]) -> Vec<f64> {
    row_of(&o.signals, &o.terms, prints)
}

fn row_of(signals: &[f64], present: &Terms, prints: &[u64]) -> Vec<f64> {
    let mut r: Vec<f64> = signals.to_vec();
    r.extend(
        prints
            .iter()
            .map(|&p| if present.contains_print(p) { 1.0 } else { 0.0 }),
    );
    r
}

/// The words and phrases more frequent among rejected proposals than among
/// approved ones by the widest margins, among those in at least
/// [`MIN_TERM_DOCS`] decisions and not in nearly all.
fn choose_terms(texts: &[hashbrown::HashSet<String>], examples: &[Example]) -> Vec<String> {
    let mut counts: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for (terms, e) in texts.iter().zip(examples) {
        for t in terms {
            let c = counts.entry(t.as_str()).or_default();
            if p_of(e.verdict) {
                c.0 += 1;
            } else {
                c.1 += 1;
            }
        }
    }
    let rejected = examples.iter().filter(|e| p_of(e.verdict)).count().max(1) as f64;
    let approved = (examples.len() as f64 - rejected).max(1.0);
    let n = examples.len();
    let mut scored: Vec<(f64, &str)> = counts
        .into_iter()
        .filter(|(_, (r, a))| r + a >= MIN_TERM_DOCS && (r + a) * 10 < n * 9)
        // Only words that rejections have more often: a name that happened
        // to be in approved proposals is no reason to approve.
        .map(|(t, (r, a))| ((r as f64) / rejected - (a as f64) / approved, t))
        .filter(|(s, _)| *s > MIN_TERM_SPREAD)
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(b.1)));
    scored
        .into_iter()
        .take(MAX_TERMS)
        .map(|(_, t)| t.to_string())
        .collect()
}

fn quoted(items: &[String]) -> String {
    items
        .iter()
        .map(|i| format!("“{i}”"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `$1,250` or `$12.50`.
pub fn usd(v: f64) -> String {
    let cents = (v * 100.0).round() as i64;
    let whole = cents / 100;
    let digits = whole.abs().to_string();
    let mut grouped = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(c);
    }
    let sign = if cents < 0 { "-" } else { "" };
    if cents % 100 == 0 {
        format!("{sign}${grouped}")
    } else {
        format!("{sign}${grouped}.{:02}", (cents % 100).abs())
    }
}
