//! Text helpers: whole-word matching, emoji, fitting text into field limits,
//! XML escaping. Everything here counts characters (`char`s), never bytes,
//! and never slices a string at a byte offset that is not a char boundary.

use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, PoisonError};

/// Word characters for whole-word matching (as regex `\w`).
pub fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

fn eq_ci(a: char, b: char) -> bool {
    if a == b {
        return true;
    }
    // The common case, without Unicode case tables.
    if a.is_ascii() && b.is_ascii() {
        return a.eq_ignore_ascii_case(&b) || (a.is_whitespace() && b.is_whitespace());
    }
    if a.is_whitespace() && b.is_whitespace() {
        return true;
    }
    // Typographic apostrophes match plain ones.
    let norm = |c: char| if c == '\u{2019}' { '\'' } else { c };
    let (a, b) = (norm(a), norm(b));
    a == b || a.to_lowercase().eq(b.to_lowercase())
}

/// Byte ranges of every case-insensitive, whole-word occurrence of `phrase`
/// in `text`. A phrase that starts (ends) with a non-word character, such as
/// `% off` or `save $`, needs no word boundary on that side. Matches do not
/// overlap; no allocation but the result.
pub fn find_phrase(text: &str, phrase: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    each_phrase(text, phrase, |m| {
        out.push(m);
        true
    });
    out
}

pub fn contains_phrase(text: &str, phrase: &str) -> bool {
    let mut found = false;
    each_phrase(text, phrase, |_| {
        found = true;
        false
    });
    found
}

/// Calls `found` with each match of `phrase` in `text` (as
/// [`find_phrase`] finds them), in order, until it returns `false`.
fn each_phrase(text: &str, phrase: &str, mut found: impl FnMut((usize, usize)) -> bool) {
    let phrase = phrase.trim();
    let (Some(first), Some(last)) = (phrase.chars().next(), phrase.chars().next_back()) else {
        return;
    };
    // The end of a match starting at byte `at` (where `first` matched).
    let match_at = |at: usize| -> Option<usize> {
        if is_word_char(first) && text[..at].chars().next_back().is_some_and(is_word_char) {
            return None;
        }
        let mut rest = text[at..].char_indices();
        if !phrase
            .chars()
            .all(|pc| rest.next().is_some_and(|(_, c)| eq_ci(c, pc)))
        {
            return None;
        }
        match rest.next() {
            Some((_, next)) if is_word_char(last) && is_word_char(next) => None,
            Some((off, _)) => Some(at + off),
            None => Some(text.len()),
        }
    };
    // No match starts before the end of the previous one.
    let mut free_from = 0;
    let mut consider = |at: usize| -> bool {
        if at < free_from {
            return true;
        }
        match match_at(at) {
            Some(end) => {
                free_from = end;
                found((at, end))
            }
            None => true,
        }
    };
    // Most phrases start with an ASCII character that only its own two
    // cases match (not `'`, which a typographic apostrophe matches, nor `k`,
    // which the Kelvin sign does): only those bytes can start a match.
    if first.is_ascii() && !matches!(first, '\'' | 'k' | 'K') {
        let (lower, upper) = (first.to_ascii_lowercase() as u8, first.to_ascii_uppercase() as u8);
        for at in memchr::memchr2_iter(lower, upper, text.as_bytes()) {
            if !consider(at) {
                return;
            }
        }
    } else {
        for (at, c) in text.char_indices() {
            if eq_ci(c, first) && !consider(at) {
                return;
            }
        }
    }
}

/// A fixed list of phrases to look for together: one pass over the text
/// finds the few whose anchors occur, and only those are matched as
/// [`contains_phrase`] matches them. Same answers as trying every phrase.
///
/// A phrase's anchor is its longest run of ASCII characters that no other
/// character matches case-insensitively (not whitespace, which any space
/// matches, nor `'`, which `’` matches, nor `k`, which the Kelvin sign
/// does): wherever the phrase matches, its anchor occurs byte for byte, but
/// for ASCII case.
#[derive(Debug, Clone)]
pub struct PhraseSet {
    phrases: Vec<String>,
    /// The anchors of the phrases that have one; `None` if none has (or
    /// the search could not be built): then every phrase is tried.
    anchors: Option<aho_corasick::AhoCorasick>,
    /// The place in `phrases` of each anchor's phrase.
    anchored: Vec<usize>,
    /// The phrases without an anchor: tried on every text.
    unanchored: Vec<usize>,
}

impl PhraseSet {
    /// A set searched many times: the fastest to search, slower to build
    /// (a brand's rules are built once per process, see `BrandRules`).
    pub fn new<'a>(phrases: impl IntoIterator<Item = &'a str>) -> PhraseSet {
        let phrases: Vec<String> = phrases.into_iter().map(|p| p.trim().to_string()).collect();
        let (mut anchored, mut unanchored, mut runs) = (Vec::new(), Vec::new(), Vec::new());
        for (i, p) in phrases.iter().enumerate() {
            match anchor(p) {
                Some(run) => {
                    anchored.push(i);
                    runs.push(run);
                }
                None => unanchored.push(i),
            }
        }
        let anchors = (!runs.is_empty())
            .then(|| {
                aho_corasick::AhoCorasick::builder()
                    .ascii_case_insensitive(true)
                    .build(runs)
                    .ok()
            })
            .flatten();
        if anchors.is_none() {
            unanchored = (0..phrases.len()).collect();
            anchored.clear();
        }
        PhraseSet {
            phrases,
            anchors,
            anchored,
            unanchored,
        }
    }

    /// Which phrases may be in `text`: those whose anchor occurs in it, and
    /// those without one.
    fn candidates(&self, text: &str) -> Vec<bool> {
        let mut c = vec![false; self.phrases.len()];
        for &i in &self.unanchored {
            c[i] = true;
        }
        if let Some(ac) = &self.anchors {
            for m in ac.find_overlapping_iter(text) {
                if let Some(&i) = self.anchored.get(m.pattern().as_usize()) {
                    c[i] = true;
                }
            }
        }
        c
    }

    /// The set of these phrases, built once per process while it is in use:
    /// for the sets a brand's data makes (banned words, claims), which
    /// change rarely and are searched on every agent step and gate.
    pub fn shared(phrases: Vec<String>) -> Arc<PhraseSet> {
        /// How many sets are kept; past it the cache starts again.
        const MAX_SHARED_SETS: usize = 512;
        static SETS: LazyLock<Mutex<HashMap<Vec<String>, Arc<PhraseSet>>>> = LazyLock::new(Mutex::default);
        // A panic elsewhere while holding the lock leaves whole entries
        // behind (an insert or a clear is all it does): keep using them.
        let sets = || SETS.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(set) = sets().get(&phrases).cloned() {
            return set;
        }
        let set = Arc::new(PhraseSet::new(phrases.iter().map(String::as_str)));
        let mut s = sets();
        if s.len() >= MAX_SHARED_SETS {
            s.clear();
        }
        s.insert(phrases, set.clone());
        set
    }

    /// Each phrase of the set found in `text`, in the set's order.
    pub fn found_in<'s>(&'s self, text: &str) -> Vec<&'s str> {
        self.found_at(text)
            .into_iter()
            .filter_map(|i| self.phrases.get(i).map(String::as_str))
            .collect()
    }

    /// The places in the set (in the order it was given its phrases) of
    /// the phrases found in `text`, in that order.
    pub fn found_at(&self, text: &str) -> Vec<usize> {
        self.phrases
            .iter()
            .zip(self.candidates(text))
            .enumerate()
            .filter(|(_, (p, c))| *c && contains_phrase(text, p))
            .map(|(i, _)| i)
            .collect()
    }

    /// The phrase at `i` in the set.
    pub fn phrase(&self, i: usize) -> Option<&str> {
        self.phrases.get(i).map(String::as_str)
    }

    /// Whether any phrase of the set is in `text`.
    pub fn any_in(&self, text: &str) -> bool {
        let found = |i: &usize| self.phrases.get(*i).is_some_and(|p| contains_phrase(text, p));
        self.unanchored.iter().any(found)
            || self.anchors.as_ref().is_some_and(|ac| {
                ac.find_overlapping_iter(text)
                    .filter_map(|m| self.anchored.get(m.pattern().as_usize()))
                    .any(found)
            })
    }
}

/// The longest run of `phrase`'s characters that only themselves match
/// (ASCII case aside); `None` if it has none.
fn anchor(phrase: &str) -> Option<&str> {
    let exact = |c: char| c.is_ascii() && !c.is_whitespace() && !matches!(c, '\'' | 'k' | 'K');
    phrase
        .split(|c: char| !exact(c))
        .max_by_key(|run| run.len())
        .filter(|run| !run.is_empty())
}

/// Removes every whole-word occurrence of `phrase`, together with the rest
/// of a hyphenated compound it is part of ("best-selling" goes entirely when
/// "best" is removed), then tidies spaces and punctuation.
pub fn remove_phrase(text: &str, phrase: &str) -> String {
    let ranges = find_phrase(text, phrase);
    if ranges.is_empty() {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut cursor = 0;
    for (start, end) in ranges {
        if start < cursor {
            continue;
        }
        let (s, mut e) = expand_compound(text, start, end);
        let s = s.max(cursor);
        // "a cheap, warm blanket" → "a warm blanket": drop the comma of a
        // removed adjective that followed a determiner or began a sentence.
        if text.get(e..).is_some_and(|r| r.starts_with(',')) {
            let before = text.get(..s).unwrap_or("").trim_end();
            let prev_word = before
                .rsplit(|c: char| c.is_whitespace())
                .next()
                .unwrap_or("")
                .to_lowercase();
            if before.is_empty()
                || before.ends_with(['.', '!', '?', ':', '\n'])
                || [
                    "a", "an", "the", "our", "your", "this", "that", "these", "those", "its", "their",
                ]
                .contains(&prev_word.as_str())
            {
                e += 1;
            }
        }
        out.push_str(text.get(cursor..s).unwrap_or(""));
        cursor = e;
    }
    out.push_str(text.get(cursor..).unwrap_or(""));
    tidy(&out)
}

fn expand_compound(text: &str, start: usize, end: usize) -> (usize, usize) {
    let joins = |c: char| is_word_char(c) || c == '-' || c == '\'' || c == '\u{2019}' || c == '®';
    let mut s = start;
    // Only expand through a hyphen (or apostrophe) that touches the match.
    if let Some(prev) = text.get(..s).and_then(|p| p.chars().next_back())
        && (prev == '-' || prev == '\'' || prev == '\u{2019}' || is_word_char(prev))
    {
        for (idx, c) in text.get(..s).unwrap_or("").char_indices().rev() {
            if joins(c) {
                s = idx;
            } else {
                break;
            }
        }
    }
    let mut e = end;
    if let Some(next) = text.get(e..).and_then(|r| r.chars().next())
        && joins(next)
    {
        for (idx, c) in text.get(e..).unwrap_or("").char_indices() {
            if joins(c) {
                e = end + idx + c.len_utf8();
            } else {
                break;
            }
        }
    }
    (s, e)
}

/// What [`tidy`] replaces in a line, in order.
const TIDY_FIXES: [(&str, &str); 19] = [
    (" ,", ","),
    (" .", "."),
    (" ;", ";"),
    (" :", ":"),
    (" !", "!"),
    (" ?", "?"),
    (",,", ","),
    (",.", "."),
    (", .", "."),
    ("( )", ""),
    ("()", ""),
    (" )", ")"),
    ("( ", "("),
    (": .", "."),
    (":.", "."),
    ("—.", "."),
    ("— .", "."),
    ("— —", "—"),
    (" - .", "."),
];

/// Collapses runs of spaces, removes spaces before punctuation, drops
/// punctuation left dangling by a removal, and fixes "a"/"an".
pub fn tidy(text: &str) -> String {
    let mut lines = Vec::new();
    for line in text.split('\n') {
        let mut s = String::with_capacity(line.len());
        let mut prev_space = false;
        for c in line.chars() {
            if c == ' ' || c == '\t' {
                if !prev_space {
                    s.push(' ');
                }
                prev_space = true;
            } else {
                prev_space = false;
                s.push(c);
            }
        }
        // In this order: a fix can make the text another one fixes. Most
        // lines need none: each is looked for before a copy is made.
        for (from, to) in TIDY_FIXES {
            if s.contains(from) {
                s = s.replace(from, to);
            }
        }
        while s.contains("  ") {
            s = s.replace("  ", " ");
        }
        let trimmed = s
            .trim()
            .trim_start_matches([',', ';', ':', '.', '—', '-', '–'])
            .trim()
            .trim_end_matches([',', ';', ':', '—', '–'])
            .trim_end();
        let trimmed = trimmed.strip_suffix(" -").unwrap_or(trimmed).trim_end();
        lines.push(fix_articles(&capitalise_first(trimmed)));
    }
    let joined = lines.join("\n");
    // No more than one blank line in a row.
    let mut out = joined;
    while out.contains("\n\n\n") {
        out = out.replace("\n\n\n", "\n\n");
    }
    out.trim().to_string()
}

/// Lower-cases the first letter, unless the word is an acronym ("IPX6").
pub fn lower_first(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(c)
            if c.is_uppercase()
                && !chars
                    .clone()
                    .next()
                    .is_some_and(|d| d.is_uppercase() || d.is_ascii_digit())
                && !s
                    .split_whitespace()
                    .nth(1)
                    .is_some_and(|w| w.chars().next().is_some_and(char::is_uppercase)) =>
        {
            c.to_lowercase().chain(chars).collect()
        }
        _ => s.to_string(),
    }
}

pub fn capitalise(s: &str) -> String {
    capitalise_first(s)
}

fn capitalise_first(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) if c.is_lowercase() => c.to_uppercase().chain(chars).collect(),
        _ => s.to_string(),
    }
}

fn fix_articles(s: &str) -> String {
    let words: Vec<&str> = s.split(' ').collect();
    let mut out: Vec<String> = Vec::with_capacity(words.len());
    for (i, w) in words.iter().enumerate() {
        let next = words.get(i + 1).copied().unwrap_or("");
        let lower_w = w.to_lowercase();
        if (lower_w == "a" || lower_w == "an") && !next.is_empty() {
            let n = next.to_lowercase();
            let n = n.trim_start_matches(|c: char| !c.is_alphanumeric());
            let vowel_sound = if n.starts_with("uni")
                || n.starts_with("use")
                || n.starts_with("one")
                || n.starts_with("eu")
                || n.starts_with("uk")
            {
                false
            } else if n.starts_with("hour") || n.starts_with("honest") || n.starts_with("honou") {
                true
            } else {
                n.starts_with(['a', 'e', 'i', 'o', 'u'])
            };
            let upper = w.starts_with('A');
            let fixed = match (vowel_sound, upper) {
                (true, true) => "An",
                (true, false) => "an",
                (false, true) => "A",
                (false, false) => "a",
            };
            out.push(fixed.to_string());
        } else {
            out.push((*w).to_string());
        }
    }
    out.join(" ")
}

/// Final touches on generated text: a doubled full stop ("Co.." from a
/// name that ends in one) becomes one; an ellipsis stays.
pub fn polish(text: &str) -> String {
    if !text.contains("..") {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let chars: Vec<char> = text.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if c == '.'
            && chars.get(i + 1) == Some(&'.')
            && chars.get(i + 2) != Some(&'.')
            && (i == 0 || chars.get(i - 1) != Some(&'.'))
        {
            continue;
        }
        out.push(c);
    }
    out
}

/// Splits text into sentence segments, each keeping its terminator and the
/// whitespace after it, so that concatenating them gives the text back.
pub fn sentence_segments(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut iter = text.char_indices().peekable();
    while let Some((i, c)) = iter.next() {
        let terminal = matches!(c, '.' | '!' | '?' | '\n');
        if !terminal {
            continue;
        }
        // Keep runs of terminators ("!!", "?!", "...") together.
        let mut end = i + c.len_utf8();
        while let Some(&(j, d)) = iter.peek() {
            if matches!(d, '.' | '!' | '?') {
                end = j + d.len_utf8();
                iter.next();
            } else {
                break;
            }
        }
        // A terminator ends a sentence only before whitespace or the end
        // (so "4.6" and "lnl-01.svg" stay whole).
        let next = iter.peek().map(|&(_, d)| d);
        if c != '\n' && next.is_some_and(|d| !d.is_whitespace()) {
            continue;
        }
        // "Co. is", "St. Louis": a short abbreviation before the full stop,
        // with more text after, does not end the sentence.
        if c == '.' && end == i + 1 {
            let word = text
                .get(start..i)
                .unwrap_or("")
                .rsplit(|ch: char| ch.is_whitespace())
                .next()
                .unwrap_or("");
            if ABBREVIATIONS.contains(&word) && next.is_some() {
                continue;
            }
        }
        while let Some(&(j, d)) = iter.peek() {
            if d.is_whitespace() {
                end = j + d.len_utf8();
                iter.next();
            } else {
                break;
            }
        }
        if let Some(seg) = text.get(start..end) {
            out.push(seg);
        }
        start = end;
    }
    if start < text.len()
        && let Some(seg) = text.get(start..)
    {
        out.push(seg);
    }
    out
}

const ABBREVIATIONS: &[&str] = &[
    "Co", "Inc", "Ltd", "St", "Mr", "Mrs", "Ms", "Dr", "No", "vs", "approx", "e.g", "i.e",
];

pub fn char_len(s: &str) -> usize {
    s.chars().count()
}

fn take_chars(s: &str, n: usize) -> &str {
    match s.char_indices().nth(n) {
        Some((b, _)) => s.get(..b).unwrap_or(s),
        None => s,
    }
}

const DANGLING: &[&str] = &[
    "and", "or", "with", "for", "the", "a", "an", "of", "to", "in", "on", "by", "from", "at", "your", "our",
    "its", "that", "which", "is", "are", "&", "+",
];

/// Fits text into `max` characters, cutting at a word boundary and dropping
/// dangling little words and punctuation. Never adds an ellipsis.
pub fn fit_words(text: &str, max: usize) -> String {
    let text = text.trim();
    if char_len(text) <= max {
        return text.to_string();
    }
    if max == 0 {
        return String::new();
    }
    let head = take_chars(text, max);
    // Is the cut inside a word?
    let rest_starts_word = text
        .get(head.len()..)
        .and_then(|r| r.chars().next())
        .is_some_and(|c| !c.is_whitespace());
    let mut cut = if rest_starts_word {
        match head.rfind(char::is_whitespace) {
            Some(i) if i > 0 => head.get(..i).unwrap_or(head),
            _ => head,
        }
    } else {
        head
    }
    .trim_end()
    .to_string();
    loop {
        let trimmed = cut
            .trim_end_matches([',', ';', ':', '—', '–', '-', '(', '/', '|', '·'])
            .trim_end()
            .to_string();
        let last = trimmed.rsplit(' ').next().unwrap_or("");
        if trimmed.contains(' ') && DANGLING.contains(&last.to_lowercase().as_str()) {
            let keep = trimmed.len().saturating_sub(last.len());
            cut = trimmed.get(..keep).unwrap_or("").trim_end().to_string();
            continue;
        }
        cut = trimmed;
        break;
    }
    // Unbalanced parenthesis left by the cut.
    if cut.matches('(').count() > cut.matches(')').count()
        && let Some(i) = cut.rfind('(')
    {
        cut = cut.get(..i).unwrap_or("").trim_end().to_string();
    }
    cut
}

/// Fits text into `max` characters keeping whole sentences where possible.
pub fn fit_sentences(text: &str, max: usize) -> String {
    let text = text.trim();
    if char_len(text) <= max {
        return text.to_string();
    }
    let mut out = String::new();
    for seg in sentence_segments(text) {
        if char_len(&out) + char_len(seg.trim_end()) <= max {
            out.push_str(seg);
        } else {
            break;
        }
    }
    let out = out.trim().to_string();
    if out.is_empty() { fit_words(text, max) } else { out }
}

/// Joins paragraphs with blank lines, keeping as many whole paragraphs as fit
/// into `max` characters (the first is cut to fit when alone it is too long).
pub fn fit_paragraphs(paragraphs: &[String], max: usize) -> String {
    let mut out = String::new();
    for p in paragraphs.iter().map(|p| p.trim()).filter(|p| !p.is_empty()) {
        let sep = if out.is_empty() { "" } else { "\n\n" };
        if char_len(&out) + char_len(sep) + char_len(p) <= max {
            out.push_str(sep);
            out.push_str(p);
        } else if out.is_empty() {
            out = fit_sentences(p, max);
        } else {
            // A shorter version of this paragraph may still fit.
            let room = max.saturating_sub(char_len(&out) + 2);
            if room >= 60 {
                let part = fit_sentences(p, room);
                if !part.is_empty() && part.ends_with(['.', '!', '?']) {
                    out.push_str("\n\n");
                    out.push_str(&part);
                }
            }
        }
    }
    out
}

/// Human text for an attribute value: strings as they are, lists joined
/// ("a, b and c"), numbers as written; nothing for objects, bools and nulls.
pub fn value_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        Value::Array(items) => {
            let parts: Vec<String> = items.iter().filter_map(value_text).collect();
            if parts.is_empty() {
                None
            } else {
                Some(join_list(&parts))
            }
        }
        _ => None,
    }
}

pub fn join_list<S: AsRef<str>>(items: &[S]) -> String {
    match items {
        [] => String::new(),
        [one] => one.as_ref().to_string(),
        [init @ .., last] => {
            let head: Vec<&str> = init.iter().map(|s| s.as_ref()).collect();
            format!("{} and {}", head.join(", "), last.as_ref())
        }
    }
}

/// `fill_weight` → `Fill weight`.
pub fn humanize_key(key: &str) -> String {
    capitalise_first(&key.replace(['_', '-'], " ").to_lowercase())
}

const SMALL_WORDS: &[&str] = &[
    "a", "an", "and", "or", "the", "of", "for", "in", "on", "to", "with", "by", "at",
];

pub fn title_case(s: &str) -> String {
    s.split(' ')
        .enumerate()
        .map(|(i, w)| {
            if i > 0 && SMALL_WORDS.contains(&w.to_lowercase().as_str()) {
                w.to_lowercase()
            } else {
                capitalise_first(w)
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

pub fn first_sentence(text: &str) -> String {
    sentence_segments(text)
        .first()
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

pub fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Control characters are not allowed in XML 1.0.
            c if (c as u32) < 0x20 && c != '\n' && c != '\t' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// `cheap` → `c****`: how a report names a banned word without using it.
pub fn mask_word(w: &str) -> String {
    let mut chars = w.chars();
    match chars.next() {
        Some(first) => {
            let rest: String = chars.map(|c| if c.is_whitespace() { ' ' } else { '*' }).collect();
            format!("{first}{rest}")
        }
        None => String::new(),
    }
}

pub fn slug(s: &str) -> String {
    let mut out = String::new();
    let mut dash = false;
    for c in s.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
            dash = false;
        } else if !dash && !out.is_empty() {
            out.push('-');
            dash = true;
        }
    }
    let out = out.trim_end_matches('-').to_string();
    take_chars(&out, 40).trim_end_matches('-').to_string()
}

// ---------------------------------------------------------------- emoji

/// A character that starts an emoji (pictographs, dingbats, symbols that
/// render as emoji by default).
pub fn is_emoji(c: char) -> bool {
    let u = c as u32;
    matches!(u,
        0x1F000..=0x1FAFF
        | 0x2600..=0x27BF
        | 0x231A | 0x231B | 0x2328 | 0x23CF | 0x23E9..=0x23F3 | 0x23F8..=0x23FA
        | 0x24C2 | 0x25AA | 0x25AB | 0x25B6 | 0x25C0 | 0x25FB..=0x25FE
        | 0x2934 | 0x2935 | 0x2B05..=0x2B07 | 0x2B1B | 0x2B1C | 0x2B50 | 0x2B55
        | 0x3030 | 0x303D | 0x3297 | 0x3299)
}

/// Characters that modify or join emoji (variation selectors, ZWJ, skin
/// tones, tag characters, the keycap combiner).
pub fn is_emoji_modifier(c: char) -> bool {
    let u = c as u32;
    matches!(u, 0xFE0E | 0xFE0F | 0x200D | 0x20E3 | 0x1F3FB..=0x1F3FF | 0xE0020..=0xE007F)
}

pub fn count_emoji(s: &str) -> usize {
    // Every emoji and modifier is at U+2000 or above: three or four bytes
    // in UTF-8, led by 0xE2 or more. Copy is mostly ASCII, so only the
    // characters such a byte leads are decoded.
    let bytes = s.as_bytes();
    let mut count = 0;
    let mut at = 0;
    while let Some(skip) = bytes
        .get(at..)
        .and_then(|rest| rest.iter().position(|&b| b >= 0xE2))
    {
        at += skip;
        // A byte of 0xE2 or more only ever leads a character.
        let Some(c) = s.get(at..).and_then(|rest| rest.chars().next()) else {
            break;
        };
        if is_emoji(c) && !is_emoji_modifier(c) {
            count += 1;
        }
        at += c.len_utf8();
    }
    count
}

/// Keeps at most `max` emoji (with their modifiers), dropping the rest.
pub fn limit_emoji(s: &str, max: usize) -> String {
    if count_emoji(s) <= max {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut kept = 0;
    let mut keeping_modifiers = false;
    for c in s.chars() {
        if is_emoji_modifier(c) {
            if keeping_modifiers && c != '\u{200D}' {
                out.push(c);
            }
            continue;
        }
        if is_emoji(c) {
            if kept < max {
                out.push(c);
                kept += 1;
                keeping_modifiers = true;
            } else {
                keeping_modifiers = false;
            }
            continue;
        }
        keeping_modifiers = false;
        out.push(c);
    }
    tidy(&out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn phrases_match_whole_words_case_insensitively_without_overlap() {
        let t = "SALE! Wholesale sale, on sale.";
        assert_eq!(find_phrase(t, "sale"), vec![(0, 4), (16, 20), (25, 29)]);
        // A phrase ending in a non-word character needs no boundary there.
        assert_eq!(find_phrase("Save $5 now", "save $"), vec![(0, 6)]);
        // Typographic apostrophes, Unicode case and any whitespace match.
        assert_eq!(find_phrase("Don\u{2019}t miss", "don't"), vec![(0, 7)]);
        assert_eq!(find_phrase("\u{212A}nit", "knit"), vec![(0, 6)]);
        assert_eq!(find_phrase("limited\ttime", "limited time"), vec![(0, 12)]);
        // Non-overlapping, and byte ranges on char boundaries.
        assert_eq!(find_phrase("ab ab ab", "ab ab"), vec![(0, 5)]);
        assert_eq!(find_phrase("é sale é", "sale"), vec![(3, 7)]);
        assert!(find_phrase("sales", "sale").is_empty());
        assert!(find_phrase("", "sale").is_empty());
        assert!(find_phrase("sale", "  ").is_empty());
    }

    use super::*;

    /// Every start considered, char by char: what the byte search must agree with.
    fn find_phrase_slowly(text: &str, phrase: &str) -> Vec<(usize, usize)> {
        let phrase = phrase.trim();
        let (Some(first), Some(last)) = (phrase.chars().next(), phrase.chars().next_back()) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        let mut free_from = 0;
        for (at, c) in text.char_indices() {
            if at < free_from || !eq_ci(c, first) {
                continue;
            }
            if is_word_char(first) && text[..at].chars().next_back().is_some_and(is_word_char) {
                continue;
            }
            let mut rest = text[at..].char_indices();
            if !phrase
                .chars()
                .all(|pc| rest.next().is_some_and(|(_, c)| eq_ci(c, pc)))
            {
                continue;
            }
            let end = match rest.next() {
                Some((_, next)) if is_word_char(last) && is_word_char(next) => continue,
                Some((off, _)) => at + off,
                None => text.len(),
            };
            out.push((at, end));
            free_from = end;
        }
        out
    }

    /// Texts and phrases with every case the matching rules name: ASCII
    /// case, typographic apostrophes, the Kelvin sign, any whitespace,
    /// word boundaries next to non-word characters, emoji.
    const TEXTS: [&str; 5] = [
        "SALE! Wholesale sale, on sale. 20% OFF, 20 % off; save $5, SAVE $ now",
        "Don\u{2019}t miss it, don't, DON'T. \u{212A}nit knit KNIT knitted ok OK \u{212A}",
        "é sale é Ésale sale_ sale-sale «sale» 🌿sale🌿 limited\ttime limited  time limited\u{a0}time",
        "Last chance: hurry, LIMITED TIME. While supplies last!",
        "",
    ];
    const PHRASES: [&str; 14] = [
        "sale",
        "% off",
        "save $",
        "don't",
        "knit",
        "limited time",
        "é",
        "🌿",
        "'t",
        "off",
        "$",
        "last chance",
        "hurry",
        "ok",
    ];

    #[test]
    fn the_byte_search_finds_what_a_char_scan_finds() {
        for t in TEXTS {
            for p in PHRASES {
                assert_eq!(find_phrase(t, p), find_phrase_slowly(t, p), "{p:?} in {t:?}");
                assert_eq!(contains_phrase(t, p), !find_phrase_slowly(t, p).is_empty());
            }
        }
    }

    #[test]
    fn a_phrase_set_finds_what_trying_each_phrase_finds() {
        let phrases = PHRASES;
        let texts = TEXTS;
        let with_anchors = PhraseSet::new(phrases.iter().copied().filter(|p| anchor(p).is_some()));
        assert!(with_anchors.anchors.is_some() && with_anchors.unanchored.is_empty());
        // "é" and "🌿" have no anchor: they are tried on every text, the
        // others only where their anchor occurs.
        let mixed = PhraseSet::new(phrases);
        assert!(mixed.anchors.is_some());
        assert_eq!(mixed.unanchored.len(), 2, "{:?}", mixed.unanchored);
        let unanchored = PhraseSet::new(phrases.iter().copied().filter(|p| anchor(p).is_none()));
        assert!(unanchored.anchors.is_none());
        for set in [&with_anchors, &mixed, &unanchored] {
            for t in texts {
                let each: Vec<&str> = set
                    .phrases
                    .iter()
                    .map(String::as_str)
                    .filter(|p| contains_phrase(t, p))
                    .collect();
                assert_eq!(set.found_in(t), each, "in {t:?}");
                assert_eq!(set.any_in(t), !each.is_empty(), "in {t:?}");
            }
        }
    }

    #[test]
    fn a_shared_set_is_built_once_per_list() {
        let words = |w: &[&str]| w.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let a = PhraseSet::shared(words(&["cheap", "organic cotton"]));
        let again = PhraseSet::shared(words(&["cheap", "organic cotton"]));
        let other = PhraseSet::shared(words(&["organic cotton", "cheap"]));
        assert!(Arc::ptr_eq(&a, &again));
        assert!(!Arc::ptr_eq(&a, &other));
        assert_eq!(
            a.found_in("Organic Cotton, not cheap"),
            vec!["cheap", "organic cotton"]
        );
        assert_eq!(
            other.found_in("Organic Cotton, not cheap"),
            vec!["organic cotton", "cheap"]
        );
    }

    /// What anchors rest on: no character outside ASCII matches an anchor's
    /// characters (all of Unicode tried).
    #[test]
    fn no_other_character_matches_an_anchor_character() {
        let anchor_chars: Vec<char> = (0u8..128)
            .map(char::from)
            .filter(|c| anchor(&c.to_string()) == Some(c.to_string().as_str()))
            .collect();
        assert!(anchor_chars.contains(&'a') && !anchor_chars.contains(&'k') && !anchor_chars.contains(&' '));
        for other in (128u32..=0x10FFFF).filter_map(char::from_u32) {
            for &a in &anchor_chars {
                assert!(!eq_ci(other, a), "{other:?} matches {a:?}");
            }
        }
    }

    #[test]
    fn whole_word_matching() {
        assert!(contains_phrase("So CHEAP!", "cheap"));
        assert!(!contains_phrase("cheapest", "cheap"));
        assert!(!contains_phrase("wholesale", "sale"));
        assert!(contains_phrase("20% OFF today", "% off"));
        assert!(!contains_phrase("20% offer", "% off"));
        assert!(contains_phrase("save $20", "save $"));
        assert!(!contains_phrase("discount_language", "discount"));
        assert!(contains_phrase("best-selling", "best"));
    }

    #[test]
    fn removal_takes_compounds_and_tidies() {
        assert_eq!(
            remove_phrase("Our best-selling throw, now here.", "best"),
            "Our throw, now here."
        );
        assert_eq!(
            remove_phrase("A cheap, warm blanket.", "cheap"),
            "A warm blanket."
        );
        assert_eq!(remove_phrase("an amazing throw", "amazing"), "A throw");
    }

    #[test]
    fn fitting_respects_limits() {
        let t = "Stonewashed linen duvet cover for slow mornings and warm nights";
        for max in [0, 5, 10, 20, 33, 64, 100] {
            let f = fit_words(t, max);
            assert!(char_len(&f) <= max, "{max}: {f}");
        }
        assert_eq!(fit_words(t, 30), "Stonewashed linen duvet cover");
        assert_eq!(fit_sentences("One. Two two. Three.", 14), "One. Two two.");
    }

    #[test]
    fn sentences_round_trip() {
        let t = "Hi there! Rated 4.6 by you. See lnl-01.svg now?\nNext line";
        assert_eq!(sentence_segments(t).concat(), t);
        assert_eq!(sentence_segments(t).len(), 4);
    }

    #[test]
    fn emoji_counting_and_limiting() {
        assert_eq!(count_emoji("hi ❤️ there 🌿✨"), 3);
        // Counting decodes only characters led by a byte of 0xE2 or more
        // (U+2000 and up): none below may be an emoji or a modifier.
        for c in '\0'..'\u{2000}' {
            assert!(
                !is_emoji(c) && !is_emoji_modifier(c),
                "{:?} would go uncounted",
                c
            );
        }
        // As reading every character would count them, whatever else is
        // multi-byte (accents, marks, quotes, dashes, CJK, flags, keycaps).
        for s in [
            "",
            "café ® — “quoted” – 日本語 ❤️‍🔥 👍🏽 1️⃣ ☀ ⌚ 〰 🇫🇷 ™ € 🀄",
            "🌿",
            "tail é",
            "\u{200D}\u{FE0F}\u{E0067} 🏴\u{E0067}\u{E0062}\u{E007F}",
        ] {
            let every = s
                .chars()
                .filter(|&c| is_emoji(c) && !is_emoji_modifier(c))
                .count();
            assert_eq!(count_emoji(s), every, "{s}");
        }
        assert_eq!(count_emoji("OEKO-TEX® — 100% linen"), 0);
        assert_eq!(count_emoji(&limit_emoji("a 🌿 b ✨ c 🍂", 1)), 1);
        assert_eq!(limit_emoji("a 🌿 b", 0), "A b");
    }

    #[test]
    fn odd_unicode_never_panics() {
        let samples = [
            "İSTANBUL İş ışık, and İ",
            "é\u{301}e\u{301} — ß straße STRASSE",
            "👩‍💻👍🏽 ❤️ 🇬🇧 a the 🌿",
            "  ,,, ;; — - ( ) ..",
            "",
            "a",
            "Ω≈ç√∫ ˜µ≤≥÷ 田中さんにあげて下さい",
        ];
        for s in samples {
            for max in 0..12 {
                assert!(char_len(&fit_words(s, max)) <= max, "{s:?} {max}");
                assert!(char_len(&fit_sentences(s, max)) <= max.max(char_len(&fit_words(s, max))));
            }
            for w in ["i", "İ", "ß", "ss", "the", "🌿", "-", "a the"] {
                let _ = remove_phrase(s, w);
                let _ = find_phrase(s, w);
            }
            let _ = tidy(s);
            let _ = limit_emoji(s, 1);
            assert_eq!(sentence_segments(s).concat(), s);
            let _ = lower_first(s);
            let _ = polish(s);
            let _ = xml_escape(s);
            let _ = slug(s);
        }
    }

    #[test]
    fn polishing_and_lowering() {
        assert_eq!(polish("the Co.. team... ok."), "the Co. team... ok.");
        assert_eq!(lower_first("Works on gas"), "works on gas");
        assert_eq!(lower_first("Pacific Northwest hikes"), "Pacific Northwest hikes");
        assert_eq!(lower_first("IPX6 rated"), "IPX6 rated");
    }

    #[test]
    fn escaping_and_masking() {
        assert_eq!(xml_escape("<a & 'b'>"), "&lt;a &amp; &apos;b&apos;&gt;");
        assert_eq!(mask_word("cheap"), "c****");
    }
}
