//! A step's trail as the stores keep it: JSON text when short, LZ4-packed
//! bytes when long. A trail (the prompts and answers behind a step, which
//! repeat the brand's blocks) is most of a run's bytes; packed, it is about
//! a third, and so are the store's writes, reads and space for it.

use serde_json::Value;

/// The first byte of a packed trail: LZ4, block format, its length first.
const LZ4: u8 = 1;

/// Trails shorter than this (as JSON) are kept as text.
const PACK_FROM: usize = 512;

/// The most a packed trail may expand to: a damaged length must not
/// allocate gigabytes. A longer trail is kept as text. A store whose
/// values are smaller may read with a lower bound (see [`unpack`]).
pub const MAX_BYTES: usize = 64 << 20;

/// A trail as a store keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stored {
    /// JSON, as every trail was kept before packing.
    Text(String),
    /// Packed: read back with [`unpack`].
    Packed(Vec<u8>),
}

/// A stored trail that cannot be read.
#[derive(Debug, thiserror::Error)]
#[error("a stored trail {0}")]
pub struct Unreadable(String);

/// How to keep `trail`: packed when long enough to gain from it.
pub fn pack(trail: &[Value]) -> Result<Stored, serde_json::Error> {
    Ok(pack_json(serde_json::to_string(trail)?))
}

/// How to keep a trail's JSON (see [`pack`]).
pub fn pack_json(json: String) -> Stored {
    if json.len() < PACK_FROM || json.len() > MAX_BYTES {
        return Stored::Text(json);
    }
    let mut bytes = Vec::with_capacity(json.len() / 2);
    bytes.push(LZ4);
    bytes.extend_from_slice(&lz4_flex::block::compress_prepend_size(json.as_bytes()));
    Stored::Packed(bytes)
}

/// A trail kept as JSON text.
pub fn from_text(json: &[u8]) -> Result<Vec<Value>, Unreadable> {
    serde_json::from_slice(json).map_err(|e| Unreadable(format!("is not a JSON list: {e}")))
}

/// A trail kept packed, refused if it would expand past `max` bytes (at
/// most [`MAX_BYTES`]).
pub fn unpack(bytes: &[u8], max: usize) -> Result<Vec<Value>, Unreadable> {
    let [LZ4, packed @ ..] = bytes else {
        return Err(Unreadable(format!("has an unknown format ({:?})", bytes.first())));
    };
    let len = packed
        .first_chunk::<4>()
        .map(|b| u32::from_le_bytes(*b) as usize)
        .ok_or_else(|| Unreadable("is cut short".into()))?;
    if len > max.min(MAX_BYTES) {
        return Err(Unreadable(format!(
            "claims {len} bytes, more than {}",
            max.min(MAX_BYTES)
        )));
    }
    let json = lz4_flex::block::decompress_size_prepended(packed)
        .map_err(|e| Unreadable(format!("does not expand: {e}")))?;
    if json.len() != len {
        return Err(Unreadable(format!("expands to {} bytes, not {len}", json.len())));
    }
    from_text(&json)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn long() -> Vec<Value> {
        vec![
            json!({"kind": "llm", "prompt": "BRAND\nLinen & Loom — “slow linen” ✨\n".repeat(200)}),
            json!({"kind": "rule", "result": "ok"}),
        ]
    }

    #[test]
    fn a_long_trail_is_packed_to_a_fraction_and_a_short_one_kept_as_text() {
        let json = serde_json::to_string(&long()).unwrap();
        let Stored::Packed(bytes) = pack(&long()).unwrap() else {
            panic!("a long trail is packed");
        };
        assert!(
            bytes.len() * 4 < json.len(),
            "{} bytes from {}",
            bytes.len(),
            json.len()
        );
        assert_eq!(unpack(&bytes, MAX_BYTES).unwrap(), long());
        let e = unpack(&bytes, 1000).expect_err("over a store's bound");
        assert!(e.to_string().contains("more than 1000"), "{e}");
        let short = vec![json!({"kind": "rule"})];
        assert_eq!(pack(&short).unwrap(), Stored::Text(r#"[{"kind":"rule"}]"#.into()));
        assert_eq!(from_text(json.as_bytes()).unwrap(), long());
    }

    #[test]
    fn a_trail_too_long_to_read_back_packed_is_kept_as_text() {
        let json = format!("[\"{}\"]", "x".repeat(MAX_BYTES));
        assert_eq!(pack_json(json.clone()), Stored::Text(json));
    }

    #[test]
    fn a_damaged_packed_trail_is_an_error_not_a_panic() {
        let Stored::Packed(good) = pack(&long()).unwrap() else {
            panic!("a long trail is packed");
        };
        let mut huge = good.clone();
        huge[1..5].copy_from_slice(&u32::MAX.to_le_bytes());
        let mut unknown = good.clone();
        unknown[0] = 9;
        let mut garbled = good.clone();
        for b in garbled.iter_mut().skip(5).step_by(3) {
            *b ^= 0x5a;
        }
        for (what, bytes) in [
            ("cut short", &good[..good.len() / 2]),
            ("claiming 4 GB", &huge[..]),
            ("of an unknown format", &unknown[..]),
            ("garbled", &garbled[..]),
            ("without a length", &[LZ4, 1][..]),
            ("empty", &[][..]),
        ] {
            let e = unpack(bytes, MAX_BYTES).expect_err(what);
            assert!(e.to_string().starts_with("a stored trail"), "{what}: {e}");
        }
    }
}
