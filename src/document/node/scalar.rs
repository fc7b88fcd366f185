//! What a plain scalar means: the YAML 1.2 core schema.
//!
//! `null`/`~`/empty, `true`/`false` in three spellings, decimal, `0o` and `0x`
//! integers, decimal and `.inf`/`.nan` floats; anything else is a string. YAML 1.1's
//! `yes`/`no`/`on`/`y` are strings here, so `needs: [y]` names a step, and so are
//! spellings the core schema does not list (`1_000`, `0X1F`, `inf`).
//! Quoted and block scalars are always strings and never come here.

use std::borrow::Cow;

use super::Value;

/// The value of a plain (unquoted) scalar.
pub fn resolve(text: Cow<'_, str>) -> Value {
    // Only a null, a boolean or a number may start with these; most plain scalars
    // (keys, ids, words) start with something else and are strings at once.
    let special = |b: &u8| {
        matches!(
            b,
            b'0'..=b'9' | b'.' | b'-' | b'+' | b'~' | b'n' | b'N' | b't' | b'T' | b'f' | b'F'
        )
    };
    if text.as_bytes().first().is_some_and(|b| !special(b)) {
        return Value::Str(text.into_owned());
    }
    if let Some(value) = null(&text)
        .or_else(|| boolean(&text))
        .or_else(|| integer(&text))
        .or_else(|| float(&text))
    {
        return value;
    }
    Value::Str(text.into_owned())
}

pub fn null(text: &str) -> Option<Value> {
    matches!(text, "" | "~" | "null" | "Null" | "NULL").then_some(Value::Null)
}

pub fn boolean(text: &str) -> Option<Value> {
    match text {
        "true" | "True" | "TRUE" => Some(Value::Bool(true)),
        "false" | "False" | "FALSE" => Some(Value::Bool(false)),
        _ => None,
    }
}

/// `[-+]?[0-9]+`, `0o[0-7]+`, `0x[0-9a-fA-F]+`. A number beyond `i64` is kept as a
/// float, the only number type that holds it (a runbook never needs that precision,
/// and the decoder then says that an integer was expected).
pub fn integer(text: &str) -> Option<Value> {
    let radix = |prefix: &str, radix: u32| {
        let digits = text.strip_prefix(prefix)?;
        let valid = !digits.is_empty() && digits.chars().all(|c| c.is_digit(radix));
        valid.then(|| {
            i64::from_str_radix(digits, radix).map_or_else(
                |_| {
                    let float = digits
                        .chars()
                        .filter_map(|c| c.to_digit(radix))
                        .fold(0.0, |n, d| n * f64::from(radix) + f64::from(d));
                    Value::Float(float)
                },
                Value::Int,
            )
        })
    };
    if let Some(value) = radix("0o", 8).or_else(|| radix("0x", 16)) {
        return Some(value);
    }
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(match text.parse::<i64>() {
        Ok(int) => Value::Int(int),
        Err(_) => Value::Float(text.parse().ok()?),
    })
}

/// `[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?`, `[-+]?.inf`, `.nan` (each in
/// its three spellings).
pub fn float(text: &str) -> Option<Value> {
    let unsigned = text.strip_prefix(['-', '+']).unwrap_or(text);
    let negative = text.starts_with('-');
    match unsigned {
        ".inf" | ".Inf" | ".INF" if negative => return Some(Value::Float(f64::NEG_INFINITY)),
        ".inf" | ".Inf" | ".INF" => return Some(Value::Float(f64::INFINITY)),
        ".nan" | ".NaN" | ".NAN" if unsigned.len() == text.len() => {
            return Some(Value::Float(f64::NAN));
        }
        _ => {}
    }
    let (mantissa, exponent) = match unsigned.find(['e', 'E']) {
        Some(at) => (&unsigned[..at], Some(&unsigned[at + 1..])),
        None => (unsigned, None),
    };
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    let mantissa_ok =
        digits(whole) && digits(fraction) && (!whole.is_empty() || !fraction.is_empty());
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['-', '+']).unwrap_or(e);
        !e.is_empty() && digits(e)
    });
    // `.` alone has neither digits before nor after; `1.` and `.5` are floats.
    if !(mantissa_ok && exponent_ok && mantissa != ".") {
        return None;
    }
    text.parse().ok().map(Value::Float)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(text: &str) -> Value {
        resolve(Cow::Borrowed(text))
    }

    fn string(text: &str) -> Value {
        Value::Str(text.to_owned())
    }

    #[test]
    fn nulls_and_booleans_of_the_core_schema() {
        for text in ["", "~", "null", "Null", "NULL"] {
            assert_eq!(plain(text), Value::Null, "{text:?}");
        }
        assert_eq!(plain("True"), Value::Bool(true));
        assert_eq!(plain("FALSE"), Value::Bool(false));
        // YAML 1.1 booleans are strings: `needs: [y]` names a step.
        for text in ["y", "n", "yes", "No", "on", "OFF", "nULL", "tRUE"] {
            assert_eq!(plain(text), string(text), "{text:?}");
        }
    }

    #[test]
    fn integers_in_three_radixes() {
        assert_eq!(plain("200"), Value::Int(200));
        assert_eq!(plain("-3"), Value::Int(-3));
        assert_eq!(plain("+7"), Value::Int(7));
        assert_eq!(plain("0755"), Value::Int(755));
        assert_eq!(plain("0o17"), Value::Int(15));
        assert_eq!(plain("0x1f"), Value::Int(31));
        assert_eq!(plain("9223372036854775807"), Value::Int(i64::MAX));
        assert_eq!(
            plain("18446744073709551616"),
            Value::Float(18_446_744_073_709_551_616.0)
        );
        assert_eq!(
            plain("0x10000000000000000"),
            Value::Float(18_446_744_073_709_551_616.0)
        );
        for text in [
            "0x", "0o8", "0X1F", "1_000", "-", "+", "12a", "0b101", "- 1",
        ] {
            assert_eq!(plain(text), string(text), "{text:?}");
        }
    }

    #[test]
    fn floats_and_what_only_looks_like_one() {
        assert_eq!(plain("1.5"), Value::Float(1.5));
        assert_eq!(plain("1."), Value::Float(1.0));
        assert_eq!(plain(".5"), Value::Float(0.5));
        assert_eq!(plain("-2.5e3"), Value::Float(-2500.0));
        assert_eq!(plain("1E+2"), Value::Float(100.0));
        assert_eq!(plain("-.inf"), Value::Float(f64::NEG_INFINITY));
        assert_eq!(plain("+.Inf"), Value::Float(f64::INFINITY));
        assert!(matches!(plain(".NaN"), Value::Float(f) if f.is_nan()));
        // Rust's own float parser would take these; the core schema does not.
        for text in [
            ".", "1.2.3", "e5", "1e", "1e+", "inf", "NaN", "infinity", "-.nan", "1.5 ",
        ] {
            assert_eq!(plain(text), string(text), "{text:?}");
        }
        // Versions stay what they look like when quoted; unquoted they are numbers.
        assert_eq!(plain("1.10"), Value::Float(1.1));
    }
}
