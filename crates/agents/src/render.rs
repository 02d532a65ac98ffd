//! The local Studio: renders a post or ad creative as an SVG in the brand's
//! colours. Every piece of text is XML-escaped; colours from the brand data
//! are used only when they are well-formed hex colours.

use crate::text::{char_len, xml_escape};
use crate::types::Colors;

const FALLBACK_PRIMARY: &str = "#1F3A34";
const FALLBACK_SECONDARY: &str = "#E9E1D4";
const FALLBACK_ACCENT: &str = "#C56A3C";
const FALLBACK_TEXT: &str = "#1B1B1B";

/// `#RGB` or `#RRGGBB`, normalised to `#RRGGBB`; anything else is refused.
pub fn valid_color(s: &str) -> Option<String> {
    let s = s.trim();
    let hex = s.strip_prefix('#')?;
    if !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    match hex.len() {
        6 => Some(format!("#{}", hex.to_ascii_uppercase())),
        3 => {
            let full: String = hex.chars().flat_map(|c| [c, c]).collect();
            Some(format!("#{}", full.to_ascii_uppercase()))
        }
        _ => None,
    }
}

fn rgb(color: &str) -> (f64, f64, f64) {
    let hex = color.trim_start_matches('#');
    let part = |i: usize| {
        hex.get(i..i + 2)
            .and_then(|h| u8::from_str_radix(h, 16).ok())
            .map(f64::from)
            .unwrap_or(0.0)
            / 255.0
    };
    (part(0), part(2), part(4))
}

fn luminance(color: &str) -> f64 {
    let lin = |c: f64| {
        if c <= 0.03928 {
            c / 12.92
        } else {
            ((c + 0.055) / 1.055).powf(2.4)
        }
    };
    let (r, g, b) = rgb(color);
    0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b)
}

fn contrast(a: &str, b: &str) -> f64 {
    let (la, lb) = (luminance(a), luminance(b));
    let (hi, lo) = if la > lb { (la, lb) } else { (lb, la) };
    (hi + 0.05) / (lo + 0.05)
}

/// The first candidate readable on `bg`, else black or white.
fn readable_on(bg: &str, candidates: &[&str]) -> String {
    for c in candidates {
        if contrast(bg, c) >= 4.5 {
            return (*c).to_string();
        }
    }
    if luminance(bg) > 0.4 {
        "#111111".into()
    } else {
        "#FFFFFF".into()
    }
}

/// The brand's palette, validated.
#[derive(Debug, Clone)]
pub struct Palette {
    pub primary: String,
    pub secondary: String,
    pub accent: String,
    pub text: String,
}

impl Palette {
    pub fn from_colors(c: &Colors) -> Palette {
        Palette {
            primary: valid_color(&c.primary).unwrap_or_else(|| FALLBACK_PRIMARY.into()),
            secondary: valid_color(&c.secondary).unwrap_or_else(|| FALLBACK_SECONDARY.into()),
            accent: valid_color(&c.accent).unwrap_or_else(|| FALLBACK_ACCENT.into()),
            text: valid_color(&c.text).unwrap_or_else(|| FALLBACK_TEXT.into()),
        }
    }
}

/// What goes on a card.
#[derive(Debug, Clone)]
pub struct Card<'a> {
    pub width: u32,
    pub height: u32,
    pub palette: &'a Palette,
    pub brand: &'a str,
    /// Small line above the headline (the product name).
    pub eyebrow: &'a str,
    /// The big text (the caption's hook, the ad headline).
    pub headline: &'a str,
    /// A line in the bottom panel (tagline, call to action).
    pub footer: &'a str,
    /// Short label in the corner ("Instagram post", "Ad creative").
    pub label: &'a str,
}

/// Greedy word wrap into at most `max_lines` lines of `width` characters;
/// the last line ends with an ellipsis when text was left over.
pub fn wrap(text: &str, width: usize, max_lines: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    let mut current = String::new();
    let mut overflow = false;
    for word in text.split_whitespace() {
        let word: String = if char_len(word) > width {
            word.chars().take(width).collect()
        } else {
            word.to_string()
        };
        let needed = if current.is_empty() {
            char_len(&word)
        } else {
            char_len(&current) + 1 + char_len(&word)
        };
        if needed <= width {
            if !current.is_empty() {
                current.push(' ');
            }
            current.push_str(&word);
        } else {
            if !current.is_empty() {
                lines.push(std::mem::take(&mut current));
            }
            if lines.len() == max_lines {
                overflow = true;
                break;
            }
            current = word;
        }
    }
    if !current.is_empty() {
        if lines.len() < max_lines {
            lines.push(current);
        } else {
            overflow = true;
        }
    }
    if overflow && let Some(last) = lines.last_mut() {
        while char_len(last) + 1 > width {
            match last.rfind(' ') {
                Some(i) => last.truncate(i),
                None => break,
            }
        }
        last.push('…');
    }
    lines
}

/// Renders the card as a standalone SVG document.
pub fn render_card(card: &Card<'_>) -> String {
    let p = card.palette;
    let (w, h) = (card.width.max(200), card.height.max(200));
    let (wf, hf) = (f64::from(w), f64::from(h));
    let margin = (wf * 0.08).round();
    let panel_h = (hf * 0.22).round();
    let panel_y = hf - panel_h;
    let on_primary = readable_on(&p.primary, &[&p.secondary, &p.text]);
    let on_panel = readable_on(&p.secondary, &[&p.text, &p.primary]);
    let accent_on_primary = if contrast(&p.primary, &p.accent) >= 3.0 {
        p.accent.clone()
    } else {
        on_primary.clone()
    };

    let headline_size = (wf * 0.062).round();
    let chars_per_line = ((wf - 2.0 * margin) / (headline_size * 0.52)).floor().max(8.0) as usize;
    let lines = wrap(card.headline, chars_per_line, 5);
    let line_h = (headline_size * 1.18).round();
    let block_h = line_h * lines.len() as f64;
    let headline_top = ((panel_y - block_h) / 2.0 + headline_size * 0.6).max(margin * 2.6);

    let mut s = String::new();
    s.push_str(&format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" role=\"img\" aria-labelledby=\"title desc\">\n"
    ));
    s.push_str(&format!(
        "  <title id=\"title\">{} — {}</title>\n",
        xml_escape(card.brand),
        xml_escape(card.eyebrow)
    ));
    s.push_str(&format!(
        "  <desc id=\"desc\">{}</desc>\n",
        xml_escape(card.headline)
    ));
    s.push_str(&format!(
        "  <rect x=\"0\" y=\"0\" width=\"{w}\" height=\"{h}\" fill=\"{}\"/>\n",
        p.primary
    ));
    s.push_str(&format!(
        "  <circle cx=\"{:.0}\" cy=\"{:.0}\" r=\"{:.0}\" fill=\"{}\" fill-opacity=\"0.18\"/>\n",
        wf * 0.86,
        hf * 0.16,
        wf * 0.24,
        p.accent
    ));
    s.push_str(&format!(
        "  <circle cx=\"{:.0}\" cy=\"{:.0}\" r=\"{:.0}\" fill=\"{}\" fill-opacity=\"0.10\"/>\n",
        wf * 0.08,
        hf * 0.62,
        wf * 0.16,
        p.secondary
    ));
    s.push_str(&format!(
        "  <text x=\"{margin}\" y=\"{:.0}\" font-family=\"Georgia, 'Times New Roman', serif\" font-size=\"{:.0}\" font-weight=\"700\" letter-spacing=\"2\" fill=\"{on_primary}\">{}</text>\n",
        margin * 1.2,
        wf * 0.034,
        xml_escape(&card.brand.to_uppercase())
    ));
    s.push_str(&format!(
        "  <text x=\"{:.0}\" y=\"{:.0}\" text-anchor=\"end\" font-family=\"Helvetica, Arial, sans-serif\" font-size=\"{:.0}\" fill=\"{on_primary}\" fill-opacity=\"0.8\">{}</text>\n",
        wf - margin,
        margin * 1.2,
        wf * 0.022,
        xml_escape(card.label)
    ));
    s.push_str(&format!(
        "  <rect x=\"{margin}\" y=\"{:.0}\" width=\"{:.0}\" height=\"{:.0}\" fill=\"{}\"/>\n",
        headline_top - headline_size * 1.9,
        wf * 0.12,
        (hf * 0.008).max(4.0),
        p.accent
    ));
    s.push_str(&format!(
        "  <text x=\"{margin}\" y=\"{:.0}\" font-family=\"Helvetica, Arial, sans-serif\" font-size=\"{:.0}\" font-weight=\"600\" fill=\"{accent_on_primary}\">{}</text>\n",
        headline_top - headline_size * 1.05,
        wf * 0.03,
        xml_escape(card.eyebrow)
    ));
    s.push_str(&format!(
        "  <text font-family=\"Georgia, 'Times New Roman', serif\" font-size=\"{headline_size:.0}\" font-weight=\"700\" fill=\"{on_primary}\">\n"
    ));
    for (i, line) in lines.iter().enumerate() {
        s.push_str(&format!(
            "    <tspan x=\"{margin}\" y=\"{:.0}\">{}</tspan>\n",
            headline_top + line_h * i as f64,
            xml_escape(line)
        ));
    }
    s.push_str("  </text>\n");
    s.push_str(&format!(
        "  <rect x=\"0\" y=\"{panel_y:.0}\" width=\"{w}\" height=\"{panel_h:.0}\" fill=\"{}\"/>\n",
        p.secondary
    ));
    s.push_str(&format!(
        "  <rect x=\"0\" y=\"{panel_y:.0}\" width=\"{w}\" height=\"{:.0}\" fill=\"{}\"/>\n",
        (hf * 0.01).max(4.0),
        p.accent
    ));
    let footer_lines = wrap(
        card.footer,
        ((wf - 2.0 * margin) / (wf * 0.03 * 0.5)).max(10.0) as usize,
        2,
    );
    s.push_str(&format!(
        "  <text font-family=\"Helvetica, Arial, sans-serif\" font-size=\"{:.0}\" fill=\"{on_panel}\">\n",
        wf * 0.03
    ));
    for (i, line) in footer_lines.iter().enumerate() {
        s.push_str(&format!(
            "    <tspan x=\"{margin}\" y=\"{:.0}\">{}</tspan>\n",
            panel_y + panel_h * 0.42 + wf * 0.042 * i as f64,
            xml_escape(line)
        ));
    }
    s.push_str("  </text>\n</svg>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_are_validated() {
        assert_eq!(valid_color("#abc").as_deref(), Some("#AABBCC"));
        assert_eq!(valid_color("#1f3a34").as_deref(), Some("#1F3A34"));
        assert_eq!(valid_color("red\" onload=\"x"), None);
        assert_eq!(valid_color("#12345"), None);
    }

    #[test]
    fn wrapping_stays_within_bounds() {
        let lines = wrap("one two three four five six seven eight nine ten eleven", 10, 3);
        assert!(lines.len() <= 3);
        assert!(lines.iter().all(|l| char_len(l) <= 10), "{lines:?}");
        assert!(lines.last().is_some_and(|l| l.ends_with('…')));
    }

    #[test]
    fn text_is_escaped() {
        let palette = Palette::from_colors(&Colors {
            primary: "#000".into(),
            secondary: "javascript:".into(),
            accent: "#f00".into(),
            text: "#fff".into(),
        });
        let svg = render_card(&Card {
            width: 1080,
            height: 1080,
            palette: &palette,
            brand: "A & B <script>",
            eyebrow: "\"x\"",
            headline: "<b>Hi</b> & bye",
            footer: "it's",
            label: "Post",
        });
        assert!(svg.starts_with("<svg"));
        assert!(!svg.contains("<script>"));
        assert!(!svg.contains("<b>"));
        assert!(svg.contains("&lt;b&gt;Hi&lt;/b&gt; &amp; bye"));
        assert!(!svg.contains("javascript"));
    }
}
