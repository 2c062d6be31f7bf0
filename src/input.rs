//! Inputs: expands the command line's input arguments into a sorted list of sources and opens
//! each as a decompressed byte stream.
//!
//! An argument is `-` (standard input), a file, a folder (walked recursively, in name order) or a
//! glob pattern. Compression is recognised by magic bytes, never by name: gzip (including
//! concatenated members), zstd (including several frames), otherwise plain text. Logpush's
//! ownership-challenge files are not log data and are skipped, and reported as skipped.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, Result};

/// Read buffer size for inputs and decompressors.
const READ_BUFFER: usize = 256 * 1024;

/// Where an input's bytes come from.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Source {
    /// Standard input.
    Stdin,
    /// A local file.
    File(PathBuf),
}

impl Source {
    /// The name used in summaries, rejects and error messages.
    pub fn display_name(&self) -> String {
        match self {
            Source::Stdin => "-".to_string(),
            Source::File(p) => p.display().to_string(),
        }
    }
}

/// One input to convert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Input {
    /// Where it is.
    pub source: Source,
    /// Its size in bytes as listed (0 for standard input, which is counted as it is read).
    pub size: u64,
}

/// An input that was listed but not converted, and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SkippedInput {
    /// The input's name.
    pub input: String,
    /// Why it was skipped.
    pub reason: String,
}

/// The expanded inputs of a run.
#[derive(Debug, Default)]
pub struct InputList {
    /// Inputs to convert, sorted by name, without duplicates.
    pub inputs: Vec<Input>,
    /// Inputs recognised as not being log data.
    pub skipped: Vec<SkippedInput>,
}

/// Whether a file name is a Logpush ownership-challenge file (`ownership-challenge*.txt`).
pub fn is_ownership_challenge(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with("ownership-challenge") && n.ends_with(".txt"))
}

/// Expands input arguments into inputs; an argument that matches nothing is an error.
pub fn expand(args: &[String]) -> Result<InputList> {
    let mut files: Vec<PathBuf> = Vec::new();
    let mut stdin = false;
    for arg in args {
        if arg == "-" {
            stdin = true;
            continue;
        }
        let path = Path::new(arg);
        let not_found = |message: String| Error::InputNotFound {
            input: arg.clone(),
            message,
        };
        if path.is_dir() {
            let before = files.len();
            for entry in walkdir::WalkDir::new(path)
                .follow_links(true)
                .sort_by_file_name()
            {
                let entry = entry.map_err(|e| not_found(e.to_string()))?;
                if entry.file_type().is_file() {
                    files.push(entry.into_path());
                }
            }
            if files.len() == before {
                return Err(not_found("the folder holds no files".into()));
            }
        } else if path.exists() {
            files.push(path.to_path_buf());
        } else if arg.contains(['*', '?', '[']) {
            let before = files.len();
            let paths = glob::glob(arg).map_err(|e| not_found(format!("bad pattern: {e}")))?;
            for p in paths {
                let p = p.map_err(|e| not_found(e.to_string()))?;
                if p.is_file() {
                    files.push(p);
                }
            }
            if files.len() == before {
                return Err(not_found("the pattern matches no files".into()));
            }
        } else {
            return Err(not_found("no such file or folder".into()));
        }
    }
    files.sort();
    // One file named twice (`a`, `./a`, a symlink, overlapping globs) is read once.
    let mut seen = std::collections::HashSet::new();
    files.retain(|p| seen.insert(std::fs::canonicalize(p).unwrap_or_else(|_| p.clone())));
    let mut list = InputList::default();
    for path in files {
        if is_ownership_challenge(&path) {
            list.skipped.push(SkippedInput {
                input: path.display().to_string(),
                reason: "Logpush ownership-challenge file".into(),
            });
            continue;
        }
        let size = std::fs::metadata(&path)
            .map_err(|e| Error::InputNotFound {
                input: path.display().to_string(),
                message: e.to_string(),
            })?
            .len();
        list.inputs.push(Input {
            source: Source::File(path),
            size,
        });
    }
    if stdin {
        list.inputs.push(Input {
            source: Source::Stdin,
            size: 0,
        });
    }
    Ok(list)
}

/// The compression of a stream, from its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// gzip: `1f 8b`.
    Gzip,
    /// zstd: `28 b5 2f fd`.
    Zstd,
    /// Anything else is read as is.
    Plain,
}

impl Compression {
    /// Recognises the compression from the magic bytes at the start of a stream.
    pub fn sniff(head: &[u8]) -> Compression {
        if head.starts_with(&[0x1f, 0x8b]) {
            Compression::Gzip
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Compression::Zstd
        } else {
            Compression::Plain
        }
    }
}

/// Counts the bytes read through it into a shared counter (the compressed bytes of an input).
pub struct CountingReader<R> {
    inner: R,
    count: Arc<AtomicU64>,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// Opens an input as a decompressed, buffered stream. `bytes_read` counts the raw bytes read.
pub fn open(input: &Input, bytes_read: Arc<AtomicU64>) -> io::Result<Box<dyn BufRead + Send>> {
    let raw: Box<dyn Read + Send> = match &input.source {
        Source::Stdin => Box::new(io::stdin()),
        Source::File(path) => Box::new(File::open(path)?),
    };
    decompress(CountingReader {
        inner: raw,
        count: bytes_read,
    })
}

/// Wraps a raw stream in the decompressor its magic bytes call for.
pub fn decompress<R: Read + Send + 'static>(mut raw: R) -> io::Result<Box<dyn BufRead + Send>> {
    // Read the head byte by byte count, not by one `read`: a pipe may deliver fewer bytes first.
    let mut head = [0u8; 4];
    let mut n = 0;
    while n < head.len() {
        match raw.read(&mut head[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let compression = Compression::sniff(&head[..n]);
    let raw =
        BufReader::with_capacity(READ_BUFFER, io::Cursor::new(head).take(n as u64).chain(raw));
    Ok(match compression {
        Compression::Gzip => Box::new(BufReader::with_capacity(
            READ_BUFFER,
            flate2::bufread::MultiGzDecoder::new(raw),
        )),
        Compression::Zstd => Box::new(BufReader::with_capacity(
            READ_BUFFER,
            zstd::stream::read::Decoder::with_buffer(raw)?,
        )),
        Compression::Plain => Box::new(raw),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn read_all(bytes: Vec<u8>) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        decompress(io::Cursor::new(bytes))?.read_to_end(&mut out)?;
        Ok(out)
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn gzip_members_zstd_frames_and_plain_text_are_recognised_by_content() {
        let mut two_members = gzip(b"{\"a\":1}\n");
        two_members.extend(gzip(b"{\"a\":2}\n"));
        assert_eq!(read_all(two_members).unwrap(), b"{\"a\":1}\n{\"a\":2}\n");

        let mut two_frames = zstd::encode_all(&b"x\n"[..], 3).unwrap();
        two_frames.extend(zstd::encode_all(&b"y\n"[..], 3).unwrap());
        assert_eq!(read_all(two_frames).unwrap(), b"x\ny\n");

        assert_eq!(read_all(b"plain\n".to_vec()).unwrap(), b"plain\n");
        assert_eq!(read_all(Vec::new()).unwrap(), b"");
        assert_eq!(read_all(b"{".to_vec()).unwrap(), b"{");
        // A stream that delivers one byte per read is still recognised.
        let slow = io::BufReader::with_capacity(1, io::Cursor::new(gzip(b"z\n")));
        let mut out = Vec::new();
        decompress(slow).unwrap().read_to_end(&mut out).unwrap();
        assert_eq!(out, b"z\n");
    }

    #[test]
    fn truncated_gzip_is_an_error_not_a_short_read() {
        let mut data = gzip(&b"{\"a\":1}\n".repeat(1000));
        data.truncate(data.len() / 2);
        assert!(read_all(data).is_err());
    }

    #[test]
    fn folders_globs_and_ownership_challenges() {
        let dir = tempfile::tempdir().unwrap();
        let day = dir.path().join("20261123");
        std::fs::create_dir(&day).unwrap();
        for name in [
            "b.log.gz",
            "a.log.gz",
            "ownership-challenge.txt",
            "ownership-challenge-1f2e.txt",
        ] {
            std::fs::write(day.join(name), b"x").unwrap();
        }
        let list = expand(&[dir.path().display().to_string()]).unwrap();
        let names: Vec<String> = list
            .inputs
            .iter()
            .map(|i| {
                i.source
                    .display_name()
                    .rsplit('/')
                    .next()
                    .unwrap()
                    .to_string()
            })
            .collect();
        assert_eq!(names, ["a.log.gz", "b.log.gz"]);
        assert_eq!(list.skipped.len(), 2);

        let pattern = format!("{}/*/b.*", dir.path().display());
        let aliases = [
            pattern,
            day.join("b.log.gz").display().to_string(),
            day.join("../20261123/./b.log.gz").display().to_string(),
        ];
        let list = expand(&aliases).unwrap();
        assert_eq!(
            list.inputs.len(),
            1,
            "one file under several spellings is listed once"
        );

        let err = expand(&[format!("{}/nothing*", dir.path().display())]).unwrap_err();
        assert!(err.to_string().contains("matches no files"), "{err}");
        let err = expand(&["/no/such/file".into()]).unwrap_err();
        assert!(err.to_string().contains("/no/such/file"), "{err}");
    }
}
