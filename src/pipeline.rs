//! The parallel read → decode pipeline. It hands each input's result, in input order, to the
//! caller's thread, which partitions and encodes it.
//!
//! ```text
//! reader threads (one per input in flight): open, decompress, frame lines into ~2 MiB chunks
//!     └─ chunks ─→ decoder threads: lines → record batches + rejects
//!                      └─ decoded chunks ─→ caller: reassembles each input, in input order
//! ```
//!
//! A single large input still keeps every core busy: its reader decompresses while decoders
//! parse its earlier chunks and the caller encodes earlier inputs. An input is delivered only
//! once all of it has been read and decoded, so an input that fails part-way is delivered as a
//! failure with none of its rows. Delivery in input order keeps the output byte-identical from
//! run to run whatever the thread timing. At most `window` inputs are in flight, which bounds
//! what waits in memory.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use arrow_array::RecordBatch;
use crossbeam_channel::{Receiver, Sender, bounded};
use sha2::{Digest, Sha256};

use crate::decode::lines::{Line, LineReader};
use crate::decode::{DecodeOptions, DecodeStats, Decoder};
use crate::error::{Error, Result};
use crate::input::{self, Input, Source};
use crate::report::FailedInput;
use crate::schema::EventSchema;
use crate::write::rejects::RejectRecord;

/// Bytes of line text per chunk handed to a decoder.
const CHUNK_BYTES: usize = 2 << 20;

/// How the pipeline runs.
#[derive(Debug, Clone)]
pub struct PipelineOptions {
    /// The field list.
    pub schema: Arc<EventSchema>,
    /// Decoder options.
    pub decode: DecodeOptions,
    /// Lines longer than this are rejected unread.
    pub max_line_bytes: usize,
    /// Decoder threads (and readers: at most this many inputs are read at once).
    pub threads: usize,
    /// Fields that become partition folder names (see [`Decoder::with_partition_fields`]).
    pub partition_fields: Vec<usize>,
}

/// One input, read to its end and decoded.
#[derive(Debug)]
pub struct DecodedInput {
    /// Its record batches, in line order.
    pub batches: Vec<RecordBatch>,
    /// Its rejected lines, in line order.
    pub rejects: Vec<RejectRecord>,
    /// Decoder counts.
    pub stats: DecodeStats,
    /// Blank lines.
    pub blank_lines: u64,
    /// SHA-256 of the content, for standard input (its identity in the run id).
    pub content_digest: Option<String>,
}

/// What the pipeline delivers for each input.
#[derive(Debug)]
pub enum InputResult {
    /// Read and decoded to the end.
    Decoded(DecodedInput),
    /// Could not be read to its end: nothing of it is delivered.
    Failed(FailedInput),
}

/// Lines of one input, framed by its reader.
struct Chunk {
    input: usize,
    seq: u64,
    source: Arc<str>,
    text: Vec<u8>,
    /// End offset in `text` and line number of each line.
    lines: Vec<(u32, u64)>,
    /// Lines rejected while framing (over the length limit).
    rejects: Vec<RejectRecord>,
    blank_lines: u64,
}

/// Messages to the caller's thread.
enum Event {
    Chunk {
        input: usize,
        seq: u64,
        decoded: DecodedInput,
    },
    /// The reader of `input` is done: it produced `chunks` chunks.
    ReadDone {
        input: usize,
        chunks: u64,
        content_digest: Option<String>,
    },
    ReadFailed {
        input: usize,
        failure: FailedInput,
    },
}

/// Gates readers so that at most `window` inputs are in flight past the last delivered one.
struct Window {
    delivered: Mutex<usize>,
    moved: Condvar,
    window: usize,
    cancelled: AtomicBool,
}

impl Window {
    /// Waits until input `i` may be read; `false` when the run is cancelled.
    fn wait_for(&self, i: usize) -> bool {
        let mut delivered = self.delivered.lock().unwrap_or_else(|e| e.into_inner());
        while i >= *delivered + self.window {
            if self.cancelled.load(Ordering::Relaxed) {
                return false;
            }
            delivered = self
                .moved
                .wait(delivered)
                .unwrap_or_else(|e| e.into_inner());
        }
        !self.cancelled.load(Ordering::Relaxed)
    }

    fn advance(&self, delivered: usize) {
        *self.delivered.lock().unwrap_or_else(|e| e.into_inner()) = delivered;
        self.moved.notify_all();
    }

    fn cancel(&self) {
        self.cancelled.store(true, Ordering::Relaxed);
        let _guard = self.delivered.lock().unwrap_or_else(|e| e.into_inner());
        self.moved.notify_all();
    }
}

/// Runs the pipeline over `inputs`, calling `deliver` on this thread with each input's result,
/// in input order. `bytes_in` counts raw bytes read. An error from `deliver` stops the run.
pub fn run(
    inputs: &[Input],
    options: &PipelineOptions,
    bytes_in: &Arc<AtomicU64>,
    mut deliver: impl FnMut(usize, InputResult) -> Result<()>,
) -> Result<()> {
    if inputs.is_empty() {
        return Ok(());
    }
    let threads = options.threads.max(1);
    // Every decoder is created up front so a bad option fails before any thread starts.
    let decoders: Vec<Decoder> = (0..threads)
        .map(|_| {
            Decoder::try_new(options.schema.clone(), options.decode)
                .map(|d| d.with_partition_fields(options.partition_fields.clone()))
        })
        .collect::<Result<_>>()?;
    let readers = threads.min(inputs.len());
    let window = Window {
        delivered: Mutex::new(0),
        moved: Condvar::new(),
        window: threads + 1,
        cancelled: AtomicBool::new(false),
    };
    let next_input = AtomicU64::new(0);
    let (chunk_tx, chunk_rx) = bounded::<Chunk>(threads * 2);
    let (event_tx, event_rx) = bounded::<Event>(threads * 4);

    std::thread::scope(|scope| {
        for _ in 0..readers {
            let chunk_tx = chunk_tx.clone();
            let event_tx = event_tx.clone();
            let (window, next_input) = (&window, &next_input);
            scope.spawn(move || {
                loop {
                    let i = next_input.fetch_add(1, Ordering::Relaxed) as usize;
                    if i >= inputs.len() || !window.wait_for(i) {
                        return;
                    }
                    let event = read_input(i, &inputs[i], options, bytes_in, &chunk_tx);
                    if event_tx.send(event).is_err() {
                        return;
                    }
                }
            });
        }
        drop(chunk_tx);
        for decoder in decoders {
            let chunk_rx = chunk_rx.clone();
            let event_tx = event_tx.clone();
            scope.spawn(move || decode_chunks(decoder, &chunk_rx, &event_tx));
        }
        drop(chunk_rx);
        drop(event_tx);

        let result = collect(inputs.len(), &event_rx, &window, &mut deliver);
        if result.is_err() {
            window.cancel();
        }
        // Dropping the receiver unblocks any thread still sending, so the scope can end.
        drop(event_rx);
        result
    })
}

/// Reassembles inputs from events and delivers them in order.
fn collect(
    count: usize,
    events: &Receiver<Event>,
    window: &Window,
    deliver: &mut impl FnMut(usize, InputResult) -> Result<()>,
) -> Result<()> {
    #[derive(Default)]
    struct Pending {
        chunks: BTreeMap<u64, DecodedInput>,
        total: Option<u64>,
        digest: Option<String>,
        failure: Option<FailedInput>,
    }
    let mut pending: BTreeMap<usize, Pending> = BTreeMap::new();
    let mut next = 0;
    while next < count {
        let event = events
            .recv()
            .map_err(|_| Error::Pipeline("a pipeline thread stopped early".into()))?;
        match event {
            Event::Chunk {
                input,
                seq,
                decoded,
            } => {
                pending
                    .entry(input)
                    .or_default()
                    .chunks
                    .insert(seq, decoded);
            }
            Event::ReadDone {
                input,
                chunks,
                content_digest,
            } => {
                let p = pending.entry(input).or_default();
                p.total = Some(chunks);
                p.digest = content_digest;
            }
            Event::ReadFailed { input, failure } => {
                pending.entry(input).or_default().failure = Some(failure);
            }
        }
        while let Some(p) = pending.get(&next) {
            let complete = p.total.is_some_and(|t| p.chunks.len() as u64 == t);
            if p.failure.is_none() && !complete {
                break;
            }
            let p = pending.remove(&next).expect("present");
            let result = match p.failure {
                Some(failure) => InputResult::Failed(failure),
                None => InputResult::Decoded(merge(p.chunks.into_values(), p.digest)),
            };
            deliver(next, result)?;
            next += 1;
            window.advance(next);
        }
    }
    Ok(())
}

fn merge(
    chunks: impl Iterator<Item = DecodedInput>,
    content_digest: Option<String>,
) -> DecodedInput {
    let mut all = DecodedInput {
        batches: Vec::new(),
        rejects: Vec::new(),
        stats: DecodeStats::default(),
        blank_lines: 0,
        content_digest,
    };
    for c in chunks {
        all.batches.extend(c.batches);
        all.rejects.extend(c.rejects);
        all.stats.merge(c.stats);
        all.blank_lines += c.blank_lines;
    }
    all
}

/// Reads input `i` into chunks; returns the event that ends it.
fn read_input(
    i: usize,
    input: &Input,
    options: &PipelineOptions,
    bytes_in: &Arc<AtomicU64>,
    chunks: &Sender<Chunk>,
) -> Event {
    let source: Arc<str> = input.source.display_name().into();
    let failed = |line: u64, e: std::io::Error| Event::ReadFailed {
        input: i,
        failure: FailedInput {
            input: source.to_string(),
            error: crate::error::error_chain(&Error::InputRead {
                path: source.to_string(),
                line,
                source: e,
            }),
            lines_discarded: line,
        },
    };
    let reader = match input::open(input, bytes_in.clone()) {
        Ok(r) => r,
        Err(e) => return failed(0, e),
    };
    let mut lines = LineReader::new(reader, options.max_line_bytes);
    let mut digest = matches!(input.source, Source::Stdin).then(Sha256::new);
    let mut seq = 0;
    let new_chunk = |seq| Chunk {
        input: i,
        seq,
        source: source.clone(),
        text: Vec::with_capacity(CHUNK_BYTES + 64 * 1024),
        lines: Vec::new(),
        rejects: Vec::new(),
        blank_lines: 0,
    };
    let mut chunk = new_chunk(seq);
    loop {
        let (number, line) = match lines.next_line() {
            Ok(Some(next)) => next,
            Ok(None) => break,
            Err(e) => return failed(lines.line_no(), e),
        };
        match line {
            Line::Complete(bytes) => {
                if let Some(d) = digest.as_mut() {
                    d.update(bytes);
                    d.update(b"\n");
                }
                if bytes.iter().all(u8::is_ascii_whitespace) {
                    chunk.blank_lines += 1;
                    continue;
                }
                chunk.text.extend_from_slice(bytes);
                chunk.lines.push((chunk.text.len() as u32, number));
            }
            Line::TooLong { len, head } => {
                if let Some(d) = digest.as_mut() {
                    d.update(format!("too long {len}\n"));
                    d.update(head);
                }
                chunk.rejects.push(RejectRecord::new(
                    &source,
                    number,
                    None,
                    format!(
                        "line is {len} bytes, over the limit of {} (--max-line-bytes)",
                        options.max_line_bytes
                    ),
                    head,
                    len,
                ));
            }
        }
        if chunk.text.len() >= CHUNK_BYTES {
            seq += 1;
            let full = std::mem::replace(&mut chunk, new_chunk(seq));
            if chunks.send(full).is_err() {
                return failed(
                    lines.line_no(),
                    std::io::Error::other("the run was stopped"),
                );
            }
        }
    }
    let count = seq + 1;
    if chunks.send(chunk).is_err() {
        return failed(
            lines.line_no(),
            std::io::Error::other("the run was stopped"),
        );
    }
    Event::ReadDone {
        input: i,
        chunks: count,
        content_digest: digest.map(|d| crate::hex(&d.finalize())),
    }
}

/// A decoder thread: turns chunks into decoded pieces until the chunk channel closes.
fn decode_chunks(mut decoder: Decoder, chunks: &Receiver<Chunk>, events: &Sender<Event>) {
    for chunk in chunks {
        let mut batches = Vec::new();
        let mut rejects = chunk.rejects;
        let mut start = 0usize;
        for &(end, number) in &chunk.lines {
            let line = &chunk.text[start..end as usize];
            start = end as usize;
            if decoder.is_full() {
                match decoder.flush() {
                    Ok(batch) => batches.extend(batch),
                    Err(e) => {
                        tracing::error!("failed to build a batch: {e}");
                        return;
                    }
                }
            }
            if let Err(reject) = decoder.decode_line(line) {
                rejects.push(RejectRecord::new(
                    &chunk.source,
                    number,
                    reject.field,
                    reject.reason,
                    line,
                    line.len() as u64,
                ));
            }
        }
        match decoder.flush() {
            Ok(batch) => batches.extend(batch),
            Err(e) => {
                tracing::error!("failed to build a batch: {e}");
                return;
            }
        }
        rejects.sort_by_key(|r| r.line);
        let decoded = DecodedInput {
            batches,
            rejects,
            stats: decoder.take_stats(),
            blank_lines: chunk.blank_lines,
            content_digest: None,
        };
        let event = Event::Chunk {
            input: chunk.input,
            seq: chunk.seq,
            decoded,
        };
        if events.send(event).is_err() {
            return;
        }
    }
}
