//! Line framing: splits a byte stream into NDJSON lines with their 1-based line numbers.
//!
//! `\n` ends a line; a `\r` before it and a UTF-8 byte-order mark at the very start of the stream
//! are dropped; a last line without a newline is still a line. A line longer than the limit is
//! not held in memory: its first bytes are kept (for the rejects file) and the rest is skipped.

use std::io::{self, BufRead};

/// How many bytes of an over-long line are kept for the rejects file.
pub const TOO_LONG_HEAD: usize = 4096;

/// One framed line.
#[derive(Debug, PartialEq, Eq)]
pub enum Line<'a> {
    /// A complete line, without its line ending.
    Complete(&'a [u8]),
    /// A line over the length limit: its total length and first bytes.
    TooLong {
        /// Total length in bytes, without the line ending.
        len: u64,
        /// The first [`TOO_LONG_HEAD`] bytes of the line, or the first `limit + 1` if the limit
        /// is lower.
        head: &'a [u8],
    },
}

/// Reads lines from a buffered reader without holding more than one line (up to the limit).
pub struct LineReader<R> {
    inner: R,
    /// Bytes of `inner`'s buffer lent out as the last line, consumed at the next call.
    lent: usize,
    buf: Vec<u8>,
    line_no: u64,
    max_line_bytes: usize,
    at_start: bool,
}

impl<R: BufRead> LineReader<R> {
    /// A reader that treats lines longer than `max_line_bytes` as [`Line::TooLong`].
    pub fn new(inner: R, max_line_bytes: usize) -> Self {
        LineReader {
            inner,
            lent: 0,
            buf: Vec::new(),
            line_no: 0,
            max_line_bytes,
            at_start: true,
        }
    }

    /// The number of the last line returned (0 before the first).
    pub fn line_no(&self) -> u64 {
        self.line_no
    }

    /// The next line and its number, or `None` at the end of the stream.
    pub fn next_line(&mut self) -> io::Result<Option<(u64, Line<'_>)>> {
        self.inner.consume(std::mem::take(&mut self.lent));
        // A whole line in the inner reader's buffer is lent from there, not copied.
        if let Some((end, consumed)) = self.whole_line_buffered()? {
            // The same buffer again: it is not refilled while it holds unconsumed bytes.
            let line = &self.inner.fill_buf()?[..end];
            self.lent = consumed;
            self.line_no += 1;
            return Ok(Some((self.line_no, Line::Complete(line))));
        }
        self.buf.clear();
        let mut len: u64 = 0;
        let mut saw_any = false;
        let mut last_byte = None;
        let mut newline = false;
        loop {
            let available = match self.inner.fill_buf() {
                Ok(a) => a,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if available.is_empty() {
                if !saw_any {
                    return Ok(None);
                }
                break;
            }
            saw_any = true;
            let (chunk, consumed, ended) = match memchr::memchr(b'\n', available) {
                Some(i) => (&available[..i], i + 1, true),
                None => (available, available.len(), false),
            };
            // Keep one byte past the limit (to tell "too long" apart), plus a byte-order mark
            // that will be dropped from the first line.
            let bom = if self.at_start { 3 } else { 0 };
            let room = self
                .max_line_bytes
                .saturating_add(1 + bom)
                .saturating_sub(self.buf.len());
            self.buf.extend_from_slice(&chunk[..chunk.len().min(room)]);
            len += chunk.len() as u64;
            if let Some(&b) = chunk.last() {
                last_byte = Some(b);
            }
            self.inner.consume(consumed);
            if ended {
                newline = true;
                break;
            }
        }
        let mut start = 0;
        if self.at_start {
            self.at_start = false;
            if self.buf.starts_with(b"\xEF\xBB\xBF") {
                start = 3;
                len -= 3;
                if len == 0 && !newline {
                    // A stream of only a byte-order mark holds no line.
                    return Ok(None);
                }
            }
        }
        self.line_no += 1;
        if last_byte == Some(b'\r') && len > 0 {
            len -= 1;
            self.buf
                .truncate(start + len.min(self.max_line_bytes as u64 + 1) as usize);
        }
        let line = if len > self.max_line_bytes as u64 {
            // The buffer of the first line has room for a byte-order mark that may not be there:
            // cut its head like any other line's.
            let head = TOO_LONG_HEAD.min(self.max_line_bytes.saturating_add(1));
            let end = (start + head).min(self.buf.len());
            Line::TooLong {
                len,
                head: &self.buf[start..end],
            }
        } else {
            Line::Complete(&self.buf[start..])
        };
        Ok(Some((self.line_no, line)))
    }

    /// If the inner reader's buffer holds a whole line within the limit (and the stream's start,
    /// which may hold a byte-order mark, is behind): where the line ends without its line
    /// ending, and how many bytes it takes with it.
    fn whole_line_buffered(&mut self) -> io::Result<Option<(usize, usize)>> {
        if self.at_start {
            return Ok(None);
        }
        let available = loop {
            match self.inner.fill_buf() {
                Ok(available) => break available,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        };
        let Some(newline) = memchr::memchr(b'\n', available) else {
            return Ok(None);
        };
        let end = match available[..newline].last() {
            Some(b'\r') => newline - 1,
            _ => newline,
        };
        Ok((end <= self.max_line_bytes).then_some((end, newline + 1)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(input: &[u8], max: usize, buf_cap: usize) -> Vec<(u64, String)> {
        let reader = io::BufReader::with_capacity(buf_cap, input);
        let mut lines = LineReader::new(reader, max);
        let mut out = Vec::new();
        while let Some((n, line)) = lines.next_line().unwrap() {
            let text = match line {
                Line::Complete(b) => String::from_utf8_lossy(b).into_owned(),
                Line::TooLong { len, head } => {
                    format!("TOO LONG {len}: {}", String::from_utf8_lossy(head))
                }
            };
            out.push((n, text));
        }
        out
    }

    #[test]
    fn endings_bom_and_last_line_without_newline() {
        let input = b"\xEF\xBB\xBF{\"a\":1}\r\n\n{\"b\":2}\n{\"c\":3}";
        for cap in [1, 2, 3, 7, 8192] {
            assert_eq!(
                frame(input, 1000, cap),
                [
                    (1, "{\"a\":1}".to_string()),
                    (2, String::new()),
                    (3, "{\"b\":2}".to_string()),
                    (4, "{\"c\":3}".to_string())
                ],
                "buffer capacity {cap}"
            );
        }
        assert!(frame(b"", 10, 8).is_empty());
        // Regression (found by the `lines` fuzz target): a lone byte-order mark was a blank line.
        for cap in [1, 2, 8192] {
            assert!(frame(b"\xEF\xBB\xBF", 10, cap).is_empty());
            assert_eq!(frame(b"\xEF\xBB\xBF\n", 10, cap), [(1, String::new())]);
        }
        assert_eq!(frame(b"\n", 10, 8), [(1, String::new())]);
    }

    #[test]
    fn over_long_lines_are_reported_with_their_length_and_head() {
        for cap in [1, 4, 8192] {
            let got = frame(b"12345\n1234567890\r\nabc\n", 5, cap);
            assert_eq!(got[0], (1, "12345".to_string()));
            assert_eq!(got[1], (2, "TOO LONG 10: 123456".to_string()), "cap {cap}");
            assert_eq!(got[2], (3, "abc".to_string()));
        }
        // Regression (found by the `lines` fuzz target): the first line kept up to 3 more
        // bytes than the others (the room for a byte-order mark that was not there).
        for cap in [1, 3, 8192] {
            assert_eq!(
                frame(b"1234567\n1234567\n", 2, cap),
                [
                    (1, "TOO LONG 7: 123".to_string()),
                    (2, "TOO LONG 7: 123".to_string())
                ]
            );
        }
        // A CR at the limit is part of the line ending, not of the line.
        for cap in [3, 8192] {
            assert_eq!(frame(b"12345\r\n", 5, cap), [(1, "12345".to_string())]);
        }
        // A byte-order mark does not count towards the first line's length.
        for cap in [1, 2, 8192] {
            assert_eq!(
                frame(b"\xEF\xBB\xBF12345\n", 5, cap),
                [(1, "12345".to_string())]
            );
            assert_eq!(
                frame(b"\xEF\xBB\xBF1234\r\n", 5, cap),
                [(1, "1234".to_string())]
            );
            assert_eq!(
                frame(b"\xEF\xBB\xBF123456\n", 5, cap),
                [(1, "TOO LONG 6: 123456".to_string())]
            );
        }
    }

    #[test]
    fn lines_are_the_same_whether_lent_from_the_buffer_or_copied() {
        // Lines of every length around the limit, with and without CR, empty ones, and a last
        // line without a newline: a buffer of 1 byte never holds a whole line (every line is
        // copied), larger ones hold some, whole or cut.
        let mut input = b"\xEF\xBB\xBF".to_vec();
        for i in 0..200usize {
            input.extend(std::iter::repeat_n(b'a' + (i % 26) as u8, i * 7 % 23));
            input.extend_from_slice(if i % 3 == 0 { b"\r\n" } else { b"\n" });
        }
        input.extend_from_slice(b"last\r");
        let copied = frame(&input, 16, 1);
        assert_eq!(copied.len(), 201);
        for cap in [2, 5, 16, 17, 18, 40, 100, 8192] {
            assert_eq!(frame(&input, 16, cap), copied, "buffer capacity {cap}");
        }
    }
}
