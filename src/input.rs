//! Inputs: expands the command line's input arguments into a sorted list of sources and opens
//! each as a decompressed byte stream.
//!
//! An argument is `-` (standard input), a file, a folder (walked recursively, in name order) or a
//! glob pattern, or an object store URL: one object, a prefix (listed recursively) or a glob over
//! keys. Compression is recognised by magic bytes, never by name: gzip (including
//! concatenated members), zstd (including several frames), otherwise plain text. Logpush's
//! ownership-challenge files are not log data and are skipped, and reported as skipped.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, Result};
use crate::storage::{self, Listed, Location, Storage};

/// Read buffer size for inputs and decompressors.
const READ_BUFFER: usize = 256 * 1024;

/// Where an input's bytes come from.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Source {
    /// Standard input.
    Stdin,
    /// A local file.
    File(PathBuf),
    /// An object in an object store, by URL (`s3://bucket/key`).
    Object(String),
}

impl Source {
    /// The name used in summaries, rejects and error messages.
    pub fn display_name(&self) -> String {
        match self {
            Source::Stdin => "-".to_string(),
            Source::File(p) => p.display().to_string(),
            Source::Object(url) => url.clone(),
        }
    }
}

/// One input to convert.
#[derive(Debug, Clone)]
pub struct Input {
    /// Where it is.
    pub source: Source,
    /// Its size in bytes as listed (0 for standard input, which is counted as it is read).
    pub size: u64,
    /// What identifies this version of it: the ETag, or the modification time (empty for
    /// standard input).
    pub version: String,
    /// The store and listing, for objects.
    object: Option<(Location, Listed)>,
}

impl Input {
    /// A local file input, with its size and modification time read from the file system.
    pub fn file(path: PathBuf) -> io::Result<Input> {
        let meta = std::fs::metadata(&path)?;
        let version = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| format!("mtime:{}", d.as_nanos()))
            .unwrap_or_default();
        Ok(Input {
            source: Source::File(path),
            size: meta.len(),
            version,
            object: None,
        })
    }

    /// Standard input.
    pub fn stdin() -> Input {
        Input {
            source: Source::Stdin,
            size: 0,
            version: String::new(),
            object: None,
        }
    }

    /// The key the ledger records this input under: the canonical path or the URL.
    pub fn key(&self) -> String {
        match &self.source {
            Source::Stdin => "-".into(),
            Source::File(path) => std::fs::canonicalize(path)
                .unwrap_or_else(|_| path.clone())
                .display()
                .to_string(),
            Source::Object(url) => url.clone(),
        }
    }
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

/// Whether a file or object name is a Logpush ownership-challenge file
/// (`ownership-challenge*.txt`).
pub fn is_ownership_challenge(name: &str) -> bool {
    let name = name.rsplit('/').next().unwrap_or(name);
    name.starts_with("ownership-challenge") && name.ends_with(".txt")
}

/// Expands input arguments into inputs; an argument that matches nothing is an error. URLs
/// (`s3://bucket/prefix/`, `s3://bucket/prefix/*.gz`) are listed through `storage`.
pub fn expand(args: &[String], storage: &Arc<Storage>) -> Result<InputList> {
    let mut files: Vec<PathBuf> = Vec::new();
    let mut objects: Vec<(Location, Listed)> = Vec::new();
    let mut stdin = false;
    for arg in args {
        if arg == "-" {
            stdin = true;
            continue;
        }
        let not_found = |message: String| Error::InputNotFound {
            input: arg.clone(),
            message,
        };
        if storage::is_url(arg) && !arg.starts_with("file://") {
            let found = expand_url(arg, storage)?;
            if found.is_empty() {
                return Err(not_found("the prefix or pattern matches no objects".into()));
            }
            objects.extend(found);
            continue;
        }
        let local = match arg.strip_prefix("file://") {
            Some(path) => path,
            None => arg.as_str(),
        };
        let path = Path::new(local);
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
        } else if local.contains(['*', '?', '[']) {
            let before = files.len();
            let paths = glob::glob(local).map_err(|e| not_found(format!("bad pattern: {e}")))?;
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
    let skip = |list: &mut InputList, name: String| {
        list.skipped.push(SkippedInput {
            input: name,
            reason: "Logpush ownership-challenge file".into(),
        })
    };
    for path in files {
        let name = path.display().to_string();
        if is_ownership_challenge(&name) {
            skip(&mut list, name);
            continue;
        }
        let input = Input::file(path).map_err(|e| Error::InputNotFound {
            input: name,
            message: e.to_string(),
        })?;
        list.inputs.push(input);
    }
    objects.sort_by_key(|a| a.0.display_key(&a.1.key));
    objects.dedup_by(|a, b| a.0.display_key(&a.1.key) == b.0.display_key(&b.1.key));
    for (location, listed) in objects {
        let url = location.display_key(&listed.key);
        if is_ownership_challenge(&url) {
            skip(&mut list, url);
            continue;
        }
        list.inputs.push(Input {
            source: Source::Object(url),
            size: listed.size,
            version: listed.version.clone(),
            object: Some((location, listed)),
        });
    }
    if stdin {
        list.inputs.push(Input::stdin());
    }
    Ok(list)
}

/// The input the ledger recorded under `key` (a canonical path or a URL), as it is now.
pub fn resolve(key: &str, storage: &Arc<Storage>) -> Result<Input> {
    let not_found = |message: String| Error::InputNotFound {
        input: key.to_string(),
        message,
    };
    if storage::is_url(key) && !key.starts_with("file://") {
        let mut found = expand_url(key, storage)?;
        found.retain(|(location, listed)| location.display_key(&listed.key) == key);
        let Some((location, listed)) = found.pop() else {
            return Err(not_found("no such object".into()));
        };
        return Ok(Input {
            source: Source::Object(key.to_string()),
            size: listed.size,
            version: listed.version.clone(),
            object: Some((location, listed)),
        });
    }
    Input::file(PathBuf::from(key)).map_err(|e| not_found(e.to_string()))
}

/// The objects a URL names: one object, every object below a prefix, or the objects whose keys
/// match a glob pattern (`s3://logs/spectrum/2026112*/*.gz`; `*` also crosses `/`).
fn expand_url(arg: &str, storage: &Arc<Storage>) -> Result<Vec<(Location, Listed)>> {
    let (scheme, rest) = arg.split_once("://").expect("a URL");
    let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
    let bucket_root = storage.open(&format!("{scheme}://{bucket}"))?;
    let pick = |listed: Vec<Listed>| listed.into_iter().map(|l| (bucket_root.clone(), l));
    if let Some(first_glob) = key.find(['*', '?', '[']) {
        let folder = key[..first_glob].rsplit_once('/').map_or("", |(f, _)| f);
        let pattern = glob::Pattern::new(key).map_err(|e| Error::InputNotFound {
            input: arg.to_string(),
            message: format!("bad pattern: {e}"),
        })?;
        let listed = bucket_root.list(folder)?;
        return Ok(pick(
            listed
                .into_iter()
                .filter(|l| pattern.matches(&l.key))
                .collect(),
        )
        .collect());
    }
    if !key.is_empty()
        && !key.ends_with('/')
        && let Some(object) = bucket_root.head(key)?
    {
        return Ok(vec![(bucket_root, object)]);
    }
    Ok(pick(bucket_root.list(key)?).collect())
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
    let raw: Box<dyn Read + Send> = match (&input.source, &input.object) {
        (Source::Stdin, _) => Box::new(io::stdin()),
        (Source::File(path), _) => Box::new(File::open(path)?),
        (Source::Object(_), Some((location, listed))) => {
            Box::new(location.reader(&listed.key, listed))
        }
        (Source::Object(url), None) => {
            return Err(io::Error::other(format!("{url}: not listed")));
        }
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
        let list = expand(
            &[dir.path().display().to_string()],
            &crate::storage::tests::storage(),
        )
        .unwrap();
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
        let list = expand(&aliases, &crate::storage::tests::storage()).unwrap();
        assert_eq!(
            list.inputs.len(),
            1,
            "one file under several spellings is listed once"
        );

        let err = expand(
            &[format!("{}/nothing*", dir.path().display())],
            &crate::storage::tests::storage(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("matches no files"), "{err}");
        let err = expand(&["/no/such/file".into()], &crate::storage::tests::storage()).unwrap_err();
        assert!(err.to_string().contains("/no/such/file"), "{err}");
    }
}
