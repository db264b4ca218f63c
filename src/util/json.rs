//! Reading JSON written by Python's `json` module, which emits bare `NaN`, `Infinity` and
//! `-Infinity` tokens that strict JSON (and serde_json) rejects. Checkpoint statistics and
//! dataset files contain them. Pure text handling, shared by the data layers.

use std::borrow::Cow;

/// Replaces bare `NaN`, `Infinity` and `-Infinity` tokens outside strings with `null`, so the
/// document parses; readers then treat `null` where a number belongs as non-finite.
pub fn non_finite_tokens_to_null(text: &str) -> Cow<'_, str> {
    if !text.contains("NaN") && !text.contains("Infinity") {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut in_string = false;
    let mut escaped = false;
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
            rest = &rest[c.len_utf8()..];
            continue;
        }
        if c == '"' {
            in_string = true;
        }
        match ["-Infinity", "Infinity", "NaN"]
            .into_iter()
            .find(|t| rest.starts_with(t))
        {
            Some(t) => {
                out.push_str("null");
                rest = &rest[t.len()..];
            }
            None => {
                out.push(c);
                rest = &rest[c.len_utf8()..];
            }
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_become_null_outside_strings_only() {
        let s = r#"{"a": [NaN, -Infinity, Infinity, 1.0], "b": "NaN \"Infinity\" stays"}"#;
        assert_eq!(
            non_finite_tokens_to_null(s),
            r#"{"a": [null, null, null, 1.0], "b": "NaN \"Infinity\" stays"}"#
        );
    }
}
