//! Money: integer micro-dollars. Compute costs are fractions of a cent, so
//! cents are too coarse; `f64` appears only at the JSON boundary.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::iter::Sum;
use std::ops::{Add, Sub};

/// An amount of US dollars in millionths (1 USD = 1,000,000).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Money(i64);

const MICROS: i64 = 1_000_000;

impl Money {
    pub const ZERO: Money = Money(0);

    pub const fn from_micros(micros: i64) -> Money {
        Money(micros)
    }

    pub const fn micros(self) -> i64 {
        self.0
    }

    pub const fn from_cents(cents: i64) -> Money {
        Money(cents * 10_000)
    }

    /// Dollars from a JSON number, rounded to the micro-dollar. `None` for
    /// values that are not finite or do not fit.
    pub fn from_usd(usd: f64) -> Option<Money> {
        let micros = (usd * MICROS as f64).round();
        (usd.is_finite() && micros.abs() < 9.0e15).then_some(Money(micros as i64))
    }

    /// Dollars for JSON: exact to the micro-dollar for any amount a person spends.
    pub fn usd(self) -> f64 {
        self.0 as f64 / MICROS as f64
    }

    pub fn saturating_sub(self, other: Money) -> Money {
        Money(self.0.saturating_sub(other.0))
    }
}

impl Add for Money {
    type Output = Money;
    fn add(self, rhs: Money) -> Money {
        Money(self.0.saturating_add(rhs.0))
    }
}

impl Sub for Money {
    type Output = Money;
    fn sub(self, rhs: Money) -> Money {
        Money(self.0.saturating_sub(rhs.0))
    }
}

impl Sum for Money {
    fn sum<I: Iterator<Item = Money>>(iter: I) -> Money {
        iter.fold(Money::ZERO, Add::add)
    }
}

impl fmt::Display for Money {
    /// `$1,240.50`: cents, thousands separated.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let cents = (self.0 as f64 / 10_000.0).round() as i64;
        let sign = if cents < 0 { "-" } else { "" };
        let cents = cents.abs();
        let dollars = (cents / 100).to_string();
        let mut grouped = String::new();
        for (i, c) in dollars.chars().enumerate() {
            if i > 0 && (dollars.len() - i).is_multiple_of(3) {
                grouped.push(',');
            }
            grouped.push(c);
        }
        write!(f, "{sign}${grouped}.{:02}", cents % 100)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dollars_round_trip_and_print() {
        let m = Money::from_usd(48.0).unwrap();
        assert_eq!(m.micros(), 48_000_000);
        assert_eq!(m.to_string(), "$48.00");
        assert_eq!(Money::from_usd(1240.5).unwrap().to_string(), "$1,240.50");
        assert_eq!(Money::from_usd(f64::NAN), None);
        let parts = [Money::from_usd(0.1).unwrap(), Money::from_usd(0.2).unwrap()];
        assert_eq!(parts.into_iter().sum::<Money>(), Money::from_usd(0.3).unwrap());
    }
}
