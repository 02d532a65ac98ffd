//! Bag-of-words helpers: significant words, crude stems and synonym groups,
//! so an agent can tell which sentence of the data a comment or a note is
//! about.

use std::collections::HashMap;
use std::sync::LazyLock;

const STOPWORDS: &[&str] = &[
    "about",
    "above",
    "after",
    "again",
    "also",
    "always",
    "among",
    "another",
    "any",
    "anything",
    "around",
    "because",
    "been",
    "before",
    "being",
    "below",
    "between",
    "both",
    "cant",
    "come",
    "comes",
    "could",
    "didnt",
    "does",
    "doesnt",
    "doing",
    "done",
    "dont",
    "down",
    "each",
    "else",
    "even",
    "every",
    "from",
    "further",
    "have",
    "having",
    "here",
    "hers",
    "herself",
    "himself",
    "into",
    "just",
    "know",
    "like",
    "look",
    "make",
    "many",
    "more",
    "most",
    "much",
    "must",
    "need",
    "only",
    "other",
    "ours",
    "over",
    "really",
    "same",
    "should",
    "some",
    "such",
    "than",
    "that",
    "their",
    "them",
    "then",
    "there",
    "these",
    "they",
    "thing",
    "things",
    "this",
    "those",
    "through",
    "under",
    "until",
    "very",
    "want",
    "were",
    "what",
    "when",
    "where",
    "which",
    "while",
    "will",
    "with",
    "without",
    "would",
    "your",
    "yours",
    "yourself",
    "please",
    "thanks",
    "thank",
    "still",
    "think",
    "good",
    "great",
    "love",
    "going",
    "able",
    "take",
    "said",
    "says",
    "tell",
    "told",
    "yeah",
    "ever",
    "okay",
    "next",
    "last",
    "first",
    "time",
    "times",
    "week",
    "weeks",
    "days",
    "year",
    "years",
    "little",
    "lot",
    "lots",
    "well",
    "back",
    "enough",
    "sure",
    "least",
    "something",
    "ones",
    "anyone",
    "someone",
    "everyone",
    "people",
    "person",
    "note",
    "notes",
    "brief",
    "post",
    "posts",
    "comment",
    "comments",
    "question",
    "questions",
    "answer",
    "honestly",
    "mention",
    "include",
    "products",
    "product",
    "long",
    "goes",
    "going",
    "gets",
    "getting",
    "lasts",
    "last",
    "stay",
    "stays",
    "leave",
    "leaving",
    "planning",
    "plan",
    "home",
    "house",
    "apartment",
    "office",
    "worried",
    "wondering",
    "curious",
    "anyone",
    "else",
    "wait",
    "trying",
    "try",
    "work",
    "works",
    "need",
    "needs",
    "able",
    "best",
    "better",
];

const SHORT_STOPWORDS: &[&str] = &[
    "the", "and", "for", "you", "but", "can", "was", "our", "its", "are", "not", "has", "had", "how", "who",
    "why", "any", "all", "out", "own", "per", "one", "two", "get", "got", "too", "yet", "off", "via", "may",
    "did", "use", "new", "see", "now", "let", "way", "day", "put", "say", "lot", "big", "top", "ago", "etc",
    "her", "his", "him", "she", "they", "this", "that", "will", "just", "also", "than", "then", "what",
    "when", "with", "from", "have", "does", "your", "mine", "ours", "yes", "also", "much", "very", "ask",
    "asked", "i'd", "i'm", "it's", "don", "won", "isn", "hey", "wow", "omg", "lol", "off", "far", "few",
    "bit", "set", "sets",
];

/// Synonym groups: every word of a group counts as its first word.
const GROUPS: &[&[&str]] = &[
    &[
        "immersion",
        "immerse",
        "immersed",
        "submerge",
        "submerged",
        "submersion",
        "submersible",
        "underwater",
        "dunk",
        "dunked",
        "dunking",
        "capsize",
        "capsized",
    ],
    &["dryer", "tumble", "tumble-dry", "drier"],
    &["shrink", "shrinking", "shrank", "shrunk", "shrinkage"],
    &["fresh", "freshness", "stale", "shelf"],
    &[
        "ship",
        "shipping",
        "shipped",
        "deliver",
        "delivery",
        "delivered",
        "postage",
    ],
    &[
        "colour",
        "colours",
        "color",
        "colors",
        "shade",
        "shades",
        "colourway",
        "colourways",
    ],
    &["size", "sizes", "sizing", "fit", "fits"],
    &["induction", "hob", "hobs", "stovetop", "stovetops"],
    &["wash", "washing", "washed", "washes", "laundry", "launder"],
    &[
        "stock",
        "restock",
        "restocked",
        "sold",
        "sell",
        "sells",
        "selling",
    ],
    &["deep", "depth", "pocket", "pockets"],
    &["return", "returns", "exchange", "exchanges", "refund", "refunds"],
];

/// A crude stem: lower case, a trailing plural or possessive removed.
pub fn stem(word: &str) -> String {
    stem_plain(plain_lower(word))
}

/// A word lowercased, without apostrophes.
fn plain_lower(word: &str) -> String {
    if word.is_ascii() {
        word.bytes()
            .filter(|&b| b != b'\'')
            .map(|b| char::from(b.to_ascii_lowercase()))
            .collect()
    } else {
        word.to_lowercase().replace(['\'', '\u{2019}'], "")
    }
}

/// The stem of a word already lowercased and without apostrophes.
fn stem_plain(w: String) -> String {
    /// Each word of a group, to the group's first word.
    static GROUP_OF: LazyLock<HashMap<&'static str, &'static str>> = LazyLock::new(|| {
        let mut m = HashMap::new();
        for group in GROUPS {
            if let Some(first) = group.first() {
                for word in *group {
                    // The first group naming a word wins, as a scan in order would.
                    m.entry(*word).or_insert(*first);
                }
            }
        }
        m
    });
    if let Some(first) = GROUP_OF.get(w.as_str()) {
        return (*first).to_string();
    }
    let w = if w.ends_with("ies") && w.len() > 4 {
        let mut w = w;
        w.truncate(w.len() - 3);
        w.push('y');
        w
    } else if w.ends_with('s') && !w.ends_with("ss") && !w.ends_with("us") && w.chars().count() > 3 {
        let mut w = w;
        w.pop();
        w
    } else {
        w
    };
    match GROUP_OF.get(w.as_str()) {
        Some(first) => (*first).to_string(),
        None => w,
    }
}

/// Whether a lowercased word is a stopword (of either list).
fn is_stopword(word: &str) -> bool {
    static ALL: std::sync::LazyLock<std::collections::HashSet<&'static str>> =
        std::sync::LazyLock::new(|| STOPWORDS.iter().chain(SHORT_STOPWORDS).copied().collect());
    ALL.contains(word)
}

/// The significant words of a text, stemmed, without repeats, in order.
pub fn significant(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for raw in text.split(|c: char| !(c.is_alphanumeric() || c == '\'' || c == '\u{2019}' || c == '-')) {
        for part in raw.split('-') {
            let w = part.trim_matches(|c: char| !c.is_alphanumeric());
            if w.len() < 2 {
                // Too short for a word (three letters) or a number (two digits).
                continue;
            }
            let lower = plain_lower(w);
            let is_number = lower.chars().all(|c| c.is_ascii_digit());
            let n = lower.chars().count();
            if !is_number && n < 3 {
                continue;
            }
            if is_number && lower.len() < 2 {
                continue;
            }
            if is_stopword(&lower) {
                continue;
            }
            let s = stem_plain(lower);
            if !out.contains(&s) {
                out.push(s);
            }
        }
    }
    out
}

/// How many significant words two texts share.
pub fn overlap(a: &[String], b: &[String]) -> usize {
    a.iter().filter(|w| b.contains(w)).count()
}

/// Whether a clause reads as negated ("no …", "don't …", "skip …").
pub fn is_negated(clause: &str) -> bool {
    lower_is_negated(&clause.to_lowercase())
}

/// [`is_negated`] of a clause already in lowercase.
fn lower_is_negated(lower: &str) -> bool {
    let lower = lower.replace('\u{2019}', "'");
    lower
        .split(|c: char| !(c.is_alphanumeric() || c == '\''))
        .filter(|w| !w.is_empty())
        .any(|w| {
            matches!(
                w,
                "no" | "not"
                    | "never"
                    | "avoid"
                    | "avoiding"
                    | "don't"
                    | "dont"
                    | "without"
                    | "skip"
                    | "zero"
                    | "nothing"
                    | "none"
                    | "isn't"
                    | "aren't"
                    | "can't"
                    | "won't"
                    | "doesn't"
                    | "leave"
            )
        })
        || lower.contains("stay away")
        || lower.contains("free of")
        || lower.contains("leave out")
}

/// Clauses of free text: split at sentence ends and semicolons.
pub fn clauses(text: &str) -> Vec<String> {
    text.split(['.', ';', '\n', '!', '?'])
        .map(|c| c.trim().to_string())
        .filter(|c| !c.is_empty())
        .collect()
}

/// A text's clauses in lowercase: for asking one text about many words.
pub struct Clauses(Vec<String>);

impl Clauses {
    pub fn of(text: &str) -> Clauses {
        Clauses(clauses(text).iter().map(|c| c.to_lowercase()).collect())
    }

    /// Whether a clause mentions one of `words` (substring of its
    /// lowercase) and is `negated` or not as asked.
    fn mention(&self, words: &[&str], negated: bool) -> bool {
        self.0
            .iter()
            .any(|lower| words.iter().any(|w| lower.contains(w)) && lower_is_negated(lower) == negated)
    }

    /// See [`mentions_unnegated`].
    pub fn mention_unnegated(&self, words: &[&str]) -> bool {
        self.mention(words, false)
    }
}

/// Whether any clause of `text` mentions one of `words` (substring, case
/// insensitive) without negating it.
pub fn mentions_unnegated(text: &str, words: &[&str]) -> bool {
    Clauses::of(text).mention_unnegated(words)
}

/// Whether any clause of `text` mentions one of `words` and negates it
/// ("no emoji", "skip Facebook", "don't call it organic").
pub fn mentions_negated(text: &str, words: &[&str]) -> bool {
    Clauses::of(text).mention(words, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stems_and_groups() {
        assert_eq!(stem("Pockets"), "deep");
        assert_eq!(stem("submerged"), "immersion");
        assert_eq!(stem("bags"), "bag");
        assert_eq!(stem("filters"), "filter");
        let a = significant("Would the dry bag survive being dunked?");
        let b = significant("Rated IPX6; it is not designed to be held underwater.");
        assert!(overlap(&a, &b) >= 1, "{a:?} {b:?}");
    }

    #[test]
    fn negation() {
        assert!(mentions_negated(
            "Run on YouTube; skip Facebook for this one.",
            &["facebook"]
        ));
        assert!(!mentions_negated(
            "Run on YouTube; skip Facebook for this one.",
            &["youtube"]
        ));
        assert!(mentions_unnegated(
            "Favour Pinterest and the Instagram feed.",
            &["pinterest"]
        ));
        assert!(!mentions_unnegated("No gift-guide countdowns.", &["gift"]));
    }
}
