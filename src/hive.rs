//! Hive folder names, on the ground floor of the house: how a partition value is escaped into a
//! `name=value` folder name and read back, and how long such a name may be. Partitioning writes
//! them, the decoder refuses values whose name would be too long, and the table layouts read
//! partition values back from file paths.

use std::fmt::Write as _;

/// The folder name Hive-style readers read back as NULL.
pub const DEFAULT_PARTITION: &str = "__HIVE_DEFAULT_PARTITION__";

/// The longest partition folder name, `field=escaped value`, in bytes: the usual file-name
/// limit of local file systems. Lines whose value would make a longer name are rejected.
pub const MAX_FOLDER_NAME_BYTES: usize = 255;

/// The length of `name=value` as a folder name once the value is escaped.
pub fn folder_name_len(name: &str, value: &str) -> usize {
    let escaped: usize = value
        .chars()
        .map(|c| if needs_escape(c) { 3 } else { c.len_utf8() })
        .sum();
    let default_marker = if value == DEFAULT_PARTITION { 2 } else { 0 };
    name.len() + 1 + escaped + default_marker
}

/// Escapes a partition value as Hive's `FileUtils.escapePathName` does (plus NUL). The literal
/// text `__HIVE_DEFAULT_PARTITION__` gets its first `_` escaped too, so that readers take it
/// for itself and not for NULL (Hive would write it as is, and read it back as NULL).
pub fn escape_value(value: &str) -> String {
    if let Some(rest) = value.strip_prefix('_')
        && value == DEFAULT_PARTITION
    {
        return format!("%5F{rest}");
    }
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        if needs_escape(c) {
            let _ = write!(out, "%{:02X}", c as u32);
        } else {
            out.push(c);
        }
    }
    out
}

/// The value a partition folder's `name=value` part stands for: `None` for
/// [`DEFAULT_PARTITION`] (NULL or the empty string), else the value with its `%XX` escapes
/// undone (the inverse of [`escape_value`]).
pub fn unescape_value(escaped: &str) -> Option<String> {
    if escaped == DEFAULT_PARTITION {
        return None;
    }
    Some(percent_decode(escaped))
}

/// `text` with its `%XX` escapes undone (Hive's folder names, and URI paths, escape this way).
pub fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The columns and values of a partition folder (`date=2026-11-23/hour=5`), in folder order;
/// `None` for the default partition.
pub fn folder_values(folder: &str) -> Vec<(&str, Option<String>)> {
    folder
        .split('/')
        .filter(|part| !part.is_empty())
        .filter_map(|part| part.split_once('='))
        .map(|(name, value)| (name, unescape_value(value)))
        .collect()
}

/// The characters Hive escapes in partition values (and NUL).
fn needs_escape(c: char) -> bool {
    matches!(
        c,
        '\0'..='\x1f'
            | '"'
            | '#'
            | '%'
            | '\''
            | '*'
            | '/'
            | ':'
            | '='
            | '?'
            | '\\'
            | '\x7f'
            | '{'
            | '['
            | ']'
            | '^'
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folder_name_length_counts_escapes() {
        for value in ["a/b", "東京", DEFAULT_PARTITION, "x_"] {
            assert_eq!(
                folder_name_len("App", value),
                format!("App={}", escape_value(value)).len()
            );
        }
    }

    #[test]
    fn escaping_follows_hive_and_round_trips() {
        assert_eq!(escape_value("a/b"), "a%2Fb");
        assert_eq!(escape_value("../x"), "..%2Fx");
        assert_eq!(escape_value("k=v%"), "k%3Dv%25");
        assert_eq!(escape_value("a\\b\n\0"), "a%5Cb%0A%00");
        assert_eq!(escape_value("Zürich 東京 ok-_.~ +"), "Zürich 東京 ok-_.~ +");
        for value in [
            "a/b",
            "../..",
            "=%=",
            "\u{1}\u{7f}x",
            "plain",
            "日本/語",
            "%2F",
            "50%",
            DEFAULT_PARTITION,
            "__HIVE_DEFAULT_PARTITION__x",
        ] {
            let escaped = escape_value(value);
            assert!(
                !escaped.contains('/') && !escaped.contains('\\'),
                "{escaped}"
            );
            assert_eq!(unescape_value(&escaped).as_deref(), Some(value));
        }
    }
}
