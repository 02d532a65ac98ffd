//! Timestamps: RFC 3339 UTC with microseconds, fixed width, so they sort as strings.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(DateTime<Utc>);

impl Timestamp {
    pub fn from_datetime(at: DateTime<Utc>) -> Timestamp {
        Timestamp(at)
    }

    pub fn parse(s: &str) -> Option<Timestamp> {
        DateTime::parse_from_rfc3339(s)
            .ok()
            .map(|d| Timestamp(d.with_timezone(&Utc)))
    }

    pub fn datetime(self) -> DateTime<Utc> {
        self.0
    }

    /// `2026-03-01`-style month key of the spend ledger: `2026-03`.
    pub fn month(self) -> String {
        self.0.format("%Y-%m").to_string()
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.to_rfc3339_opts(SecondsFormat::Micros, true))
    }
}

impl Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Timestamp::parse(&s).ok_or_else(|| serde::de::Error::custom(format!("not an RFC 3339 time: {s}")))
    }
}

/// The source of the current time; a port, so tests can pin it.
pub trait Clock: Send + Sync {
    fn now(&self) -> Timestamp;
}

/// The system clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp(Utc::now())
    }
}

#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for Timestamp {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
                utoipa::openapi::KnownFormat::DateTime,
            )))
            .description(Some("RFC 3339, UTC"))
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for Timestamp {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_fixed_width_and_sort_as_strings() {
        let a = Timestamp::parse("2026-01-02T03:04:05Z").unwrap();
        let b = Timestamp::parse("2026-01-02T03:04:05.5Z").unwrap();
        assert_eq!(a.to_string(), "2026-01-02T03:04:05.000000Z");
        assert_eq!(b.to_string(), "2026-01-02T03:04:05.500000Z");
        assert!(a.to_string() < b.to_string());
        assert_eq!(a.month(), "2026-01");
    }
}
