//! Identifiers: newtypes that parse, so a value of one is always well formed.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Why a string is not an id of the expected kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{value}` is not a valid {kind}")]
pub struct IdError {
    pub kind: &'static str,
    pub value: String,
}

fn short(value: &str) -> String {
    value.chars().take(80).collect()
}

macro_rules! id_type {
    ($(#[$m:meta])* $name:ident, $kind:literal, $check:expr) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub fn parse(value: impl Into<String>) -> Result<Self, IdError> {
                let value = value.into();
                let check: fn(&str) -> bool = $check;
                if check(&value) {
                    Ok(Self(value))
                } else {
                    Err(IdError { kind: $kind, value: short(&value) })
                }
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(value: String) -> Result<Self, IdError> {
                Self::parse(value)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl std::str::FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                Self::parse(s)
            }
        }
    };
}

fn slug(s: &str, max: usize) -> bool {
    !s.is_empty()
        && s.len() <= max
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

id_type!(
    /// A workspace: `demo`, `rival`.
    WorkspaceId, "workspace id", |s| slug(s, 64)
);
id_type!(
    /// A member of a workspace: `alice`.
    MemberId, "member id", |s| slug(s, 64) || s == APPROVER_AGENT
);
id_type!(
    /// A step's key within its recipe: `listings_gate`.
    StepKey, "step key", |s| !s.is_empty()
        && s.len() <= 64
        && s.starts_with(|c: char| c.is_ascii_lowercase())
        && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
);
id_type!(
    /// A run (one execution of a recipe): `run_` and 26 base32 characters,
    /// or `run_` and the id of the event that started it.
    RunId, "run id", |s| s.strip_prefix("run_").is_some_and(|rest| {
        !rest.is_empty()
            && rest.len() <= 64
            && rest.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    })
);

/// The actor id of the approver agent's decisions.
pub const APPROVER_AGENT: &str = "approver-agent";

impl RunId {
    /// A new, time-ordered run id.
    pub fn generate() -> RunId {
        RunId(format!("run_{}", ulid::Ulid::new().to_string().to_lowercase()))
    }

    /// The run id that a `POST /api/runs` with an `Idempotency-Key` starts:
    /// the same member's same key always names the same run, so concurrent
    /// repeats of the request start one run between them.
    pub fn for_request(workspace: &WorkspaceId, member: &MemberId, key: &str) -> RunId {
        use sha2::{Digest, Sha256};
        let digest = Sha256::digest(format!("{workspace}\n{member}\n{key}").as_bytes());
        RunId(format!("run_k{}", &hex::encode(digest)[..32]))
    }

    /// The run id that an event with this id starts: the same event delivered
    /// twice starts the same run.
    pub fn from_event_id(event_id: &str) -> Result<RunId, IdError> {
        let cleaned: String = event_id
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
            .collect::<String>()
            .to_lowercase();
        RunId::parse(format!("run_{cleaned}"))
    }
}

/// A step, unique across all runs: `<run id>.<step key>`. The run is found
/// from it without an index.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct StepId {
    run: RunId,
    key: StepKey,
}

impl StepId {
    pub fn new(run: &RunId, key: &StepKey) -> StepId {
        StepId {
            run: run.clone(),
            key: key.clone(),
        }
    }

    pub fn parse(value: &str) -> Result<StepId, IdError> {
        let bad = || IdError {
            kind: "step id",
            value: short(value),
        };
        let (run, key) = value.split_once('.').ok_or_else(bad)?;
        Ok(StepId {
            run: RunId::parse(run).map_err(|_| bad())?,
            key: StepKey::parse(key).map_err(|_| bad())?,
        })
    }

    pub fn run_id(&self) -> &RunId {
        &self.run
    }

    pub fn step_key(&self) -> &StepKey {
        &self.key
    }
}

impl fmt::Display for StepId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.run, self.key)
    }
}

impl TryFrom<String> for StepId {
    type Error = IdError;
    fn try_from(value: String) -> Result<Self, IdError> {
        StepId::parse(&value)
    }
}

impl From<StepId> for String {
    fn from(id: StepId) -> String {
        id.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_ids_round_trip_and_name_their_run() {
        let run = RunId::generate();
        let key = StepKey::parse("listings_gate").unwrap();
        let id = StepId::new(&run, &key);
        let parsed = StepId::parse(&id.to_string()).unwrap();
        assert_eq!(parsed, id);
        assert_eq!(parsed.run_id(), &run);
        assert_eq!(parsed.step_key().as_str(), "listings_gate");
    }

    #[test]
    fn hostile_ids_are_refused() {
        for bad in [
            "",
            "../etc/passwd",
            "run_",
            "run_ABC",
            "run_x.Listings",
            "x.y",
            "run_a.b.c",
            "run_a/..",
            "run_a'; DROP TABLE runs;--",
        ] {
            assert!(StepId::parse(bad).is_err(), "{bad} parsed");
        }
        assert!(RunId::parse("run_../x").is_err());
        assert!(WorkspaceId::parse("De mo").is_err());
    }

    #[test]
    fn event_ids_give_stable_run_ids() {
        let a = RunId::from_event_id("6a7e8feb-b491-4cf7-a9f1-bf3703467718").unwrap();
        let b = RunId::from_event_id("6a7e8feb-b491-4cf7-a9f1-bf3703467718").unwrap();
        assert_eq!(a, b);
    }
}
