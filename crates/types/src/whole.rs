//! Integer request fields that also accept a JSON number with a zero fraction (`493824.0`):
//! JavaScript clients and some SDKs send whole numbers as floats, and refusing them turns a
//! valid request into a 400.

use serde::{de::Error, Deserialize, Deserializer};

/// `Option<T>` from an integer, or a float that is a whole number in `T`'s range.
pub(crate) fn opt<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<i64> + TryFrom<u64>,
{
    let Some(n) = Option::<serde_json::Number>::deserialize(d)? else {
        return Ok(None);
    };
    let out_of_range = || D::Error::custom(format!("{n} is out of range"));
    if let Some(u) = n.as_u64() {
        return T::try_from(u).map(Some).map_err(|_| out_of_range());
    }
    if let Some(i) = n.as_i64() {
        return T::try_from(i).map(Some).map_err(|_| out_of_range());
    }
    match n.as_f64() {
        Some(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => {
            T::try_from(f as i64).map(Some).map_err(|_| out_of_range())
        }
        _ => Err(D::Error::custom(format!("{n} is not a whole number"))),
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    #[derive(Deserialize)]
    struct T {
        #[serde(default, deserialize_with = "super::opt")]
        v: Option<u32>,
    }

    fn parse(json: &str) -> Result<Option<u32>, serde_json::Error> {
        serde_json::from_str::<T>(json).map(|t| t.v)
    }

    #[test]
    fn whole_floats_are_integers_and_fractions_are_refused() {
        assert_eq!(parse(r#"{"v": 493824.0}"#).unwrap(), Some(493_824));
        assert_eq!(parse(r#"{"v": 7}"#).unwrap(), Some(7));
        assert_eq!(parse(r#"{}"#).unwrap(), None);
        assert_eq!(parse(r#"{"v": null}"#).unwrap(), None);
        assert!(parse(r#"{"v": 1.5}"#).is_err());
        assert!(parse(r#"{"v": -1}"#).is_err());
        assert!(parse(r#"{"v": 5000000000}"#).is_err());
    }
}
