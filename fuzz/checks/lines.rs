//! Line framing on arbitrary bytes, read through buffers of any size, against a plain reference:
//! a UTF-8 byte-order mark dropped at the very start, lines split at `\n`, a `\r` before the end
//! of a line dropped, a last line without `\n` still a line, and lines over the limit reported
//! with their length and their first `min(4096, limit + 1)` bytes.

use std::io::BufReader;

use logpush_parquet::decode::lines::{Line, LineReader, TOO_LONG_HEAD};

#[derive(Debug, PartialEq, Eq)]
enum Framed {
    Complete(Vec<u8>),
    TooLong { len: u64, head: Vec<u8> },
}

fn reference(data: &[u8], max: usize) -> Vec<Framed> {
    let data = data.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(data);
    let mut lines: Vec<&[u8]> = data.split(|&b| b == b'\n').collect();
    if lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    lines
        .into_iter()
        .map(|line| {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.len() > max {
                let keep = TOO_LONG_HEAD.min(max + 1);
                Framed::TooLong {
                    len: line.len() as u64,
                    head: line[..keep].to_vec(),
                }
            } else {
                Framed::Complete(line.to_vec())
            }
        })
        .collect()
}

/// Checks one fuzz input; panics on any disagreement.
pub fn check(input: &[u8]) {
    let Some((&[cap, limit], data)) = input.split_first_chunk::<2>() else {
        return;
    };
    let capacity = usize::from(cap % 64) + 1;
    // Mostly small limits, so that long lines are common; sometimes one above TOO_LONG_HEAD.
    let max = match limit {
        255 => 5000,
        n => usize::from(n),
    };
    let mut reader = LineReader::new(BufReader::with_capacity(capacity, data), max);
    let mut got = Vec::new();
    while let Some((number, line)) = reader.next_line().expect("reading a slice cannot fail") {
        assert_eq!(
            number,
            got.len() as u64 + 1,
            "line numbers run from 1 without gaps"
        );
        got.push(match line {
            Line::Complete(bytes) => Framed::Complete(bytes.to_vec()),
            Line::TooLong { len, head } => Framed::TooLong {
                len,
                head: head.to_vec(),
            },
        });
    }
    assert_eq!(
        got,
        reference(data, max),
        "capacity {capacity}, limit {max}"
    );
}
