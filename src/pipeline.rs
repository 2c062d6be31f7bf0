//! The parallel read → decode pipeline. It hands decoded chunks to the caller's thread, which
//! partitions them and hands them to the encoder threads ([`crate::write`]).
//!
//! ```text
//! reader threads (one per slot): open, decompress, frame lines into chunks of up to 2 MiB
//!     └─ chunks ─→ decoder threads: lines → record batches + rejects
//!                      └─ decoded chunks ─→ caller, slot by slot in turn:
//!                                           rows, then "input done" or "failed"
//! ```
//!
//! The inputs are dealt out to `threads` slots, input `i` to slot `i % slots`, and each slot's
//! reader reads its inputs one after the other. The caller receives the slots' chunks in turn:
//! one item of slot 0 (a chunk, or the end of an input), one of slot 1, and so on around. So
//! every reader decompresses at once, and the order of delivery is a fixed function of the
//! inputs and the chunk size: the output is the same bytes from run to run whatever the thread
//! timing (the same `--threads`; another thread count interleaves the inputs otherwise, which
//! moves rows within a partition, never between partitions). Within an input, lines come in
//! order. A single large input still keeps every core busy: its reader decompresses while
//! decoders parse its earlier chunks and the encoder threads encode the ones before.
//!
//! Memory is bounded whatever the size of the inputs: a slot's reader may run at most
//! [`LOOKAHEAD`] items ahead of the slot's delivery before it waits, and each slot has one
//! input open.
//!
//! The pipeline drains first: with more threads than cores, an even share of the CPU left the
//! stages downstream behind while queues filled and cores idled. So decoders run
//! [`DECODER_NICENESS`] and readers [`READER_NICENESS`] nice levels below the caller and the
//! encoder threads, and take the CPU those leave (see [`lower_thread_priority`]).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use arrow_array::RecordBatch;
use crossbeam_channel::{Receiver, Sender, bounded};
use sha2::{Digest, Sha256};

use crate::decode::csv::CsvColumns;
use crate::decode::lines::{Line, LineReader};
use crate::decode::{DecodeOptions, DecodeStats, Decoder};
use crate::error::{Error, Result, error_chain};
use crate::input::{self, Input, Source};
use crate::report::FailedInput;
use crate::schema::EventSchema;
use crate::write::rejects::RejectRecord;

/// Bytes of line text per chunk handed to a decoder.
pub const CHUNK_BYTES: usize = 2 << 20;
/// Items (chunks, or the end of an input) a slot's reader may have produced beyond those of its
/// slot delivered so far.
pub const LOOKAHEAD: u64 = 3;
/// Nice levels a decoder thread runs below the caller's thread.
pub const DECODER_NICENESS: i32 = 5;
/// Nice levels a reader thread runs below the caller's thread (below the decoders too, whose
/// input it produces).
pub const READER_NICENESS: i32 = 10;

/// How the pipeline runs.
#[derive(Debug, Clone)]
pub struct PipelineOptions {
    /// The field list.
    pub schema: Arc<EventSchema>,
    /// Decoder options.
    pub decode: DecodeOptions,
    /// Lines longer than this are rejected unread.
    pub max_line_bytes: usize,
    /// Decoder threads, and slots (readers, and the most inputs open at once).
    pub threads: usize,
    /// Fields that become partition folder names (see [`Decoder::with_partition_fields`]).
    pub partition_fields: Vec<usize>,
    /// Bytes of line text per chunk (tests make it tiny to move chunk boundaries).
    pub chunk_bytes: usize,
    /// The columns of CSV input; `None` for NDJSON.
    pub csv_columns: Option<CsvColumns>,
}

/// Consecutive lines of one input, decoded.
#[derive(Debug)]
pub struct DecodedChunk {
    /// Record batches, in line order.
    pub batches: Vec<RecordBatch>,
    /// Rejected lines, in line order.
    pub rejects: Vec<RejectRecord>,
    /// Decoder counts.
    pub stats: DecodeStats,
    /// Blank lines.
    pub blank_lines: u64,
    /// Bytes of line text decoded (uncompressed, line endings left out).
    pub text_bytes: u64,
}

/// What the pipeline hands over, in input order and, within an input, in line order.
#[derive(Debug)]
pub enum Delivery {
    /// The next lines of input `input`.
    Chunk {
        /// Index of the input.
        input: usize,
        /// Its decoded lines.
        decoded: DecodedChunk,
    },
    /// Input `input` was read to its end: all its chunks have been delivered.
    InputDone {
        /// Index of the input.
        input: usize,
        /// SHA-256 of the content, for standard input (its identity in the run id).
        content_digest: Option<String>,
    },
    /// Input `input` could not be read to its end; some of its chunks may have been delivered.
    InputFailed {
        /// Index of the input.
        input: usize,
        /// What went wrong.
        failure: FailedInput,
    },
}

/// Lines of one input, framed by its reader: item `seq` of slot `slot`.
struct Chunk {
    slot: usize,
    seq: u64,
    input: usize,
    source: Arc<str>,
    text: Vec<u8>,
    /// End offset in `text` and line number of each line.
    lines: Vec<(u32, u64)>,
    /// Lines rejected while framing (over the length limit).
    rejects: Vec<RejectRecord>,
    blank_lines: u64,
}

/// Emptied chunk buffers, handed back by decoders for readers to fill again.
///
/// A fresh buffer per chunk (up to [`CHUNK_BYTES`], sized by the memory budget) was faulted in
/// page by page as its reader wrote it: three quarters of a run's page faults, and kernel time
/// to match. A recycled buffer is mapped
/// already. No more buffers exist than without the pool (a reader allocates only when none is
/// spare), and a buffer that grew past twice its planned size (a chunk whose last line was long)
/// is freed, not kept.
struct SpareBuffers {
    give: Sender<ChunkBuffers>,
    take: Receiver<ChunkBuffers>,
    text_capacity: usize,
}

/// A chunk's text and line table.
type ChunkBuffers = (Vec<u8>, Vec<(u32, u64)>);

impl SpareBuffers {
    /// A pool of at most `max_spare` idle buffers for chunks of about `chunk_bytes`.
    fn new(max_spare: usize, chunk_bytes: usize) -> Self {
        let (give, take) = bounded(max_spare);
        SpareBuffers {
            give,
            take,
            text_capacity: chunk_bytes + 4096,
        }
    }

    /// Empty buffers: spare ones if there are any, new ones otherwise.
    fn take(&self) -> ChunkBuffers {
        self.take
            .try_recv()
            .unwrap_or_else(|_| (Vec::with_capacity(self.text_capacity), Vec::new()))
    }

    /// Keeps `buffers` for a later chunk, unless they grew too large or the pool is full.
    fn give(&self, (mut text, mut lines): ChunkBuffers) {
        if text.capacity() <= 2 * self.text_capacity {
            text.clear();
            lines.clear();
            let _ = self.give.try_send((text, lines));
        }
    }
}

/// Messages to the caller's thread, in any order.
enum Event {
    /// Item `seq` of slot `slot`: a decoded chunk, or the end of one of its inputs.
    Item {
        slot: usize,
        seq: u64,
        item: Delivery,
    },
    /// A pipeline thread could not go on (a bug): the run must stop.
    Crashed(String),
}

/// Held by every pipeline thread: if the thread unwinds, the run is cancelled and the
/// collector told, so no other thread waits forever for what it would have sent.
struct CrashGuard<'a> {
    progress: &'a Progress,
    events: Sender<Event>,
}

impl Drop for CrashGuard<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.progress.cancel();
            let _ = self
                .events
                .send(Event::Crashed("a pipeline thread panicked".into()));
        }
    }
}

/// Cancels the run if the caller's thread unwinds while it holds this.
struct CancelOnUnwind<'a>(&'a Progress);

impl Drop for CancelOnUnwind<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.cancel();
        }
    }
}

/// Where each slot's delivery stands, so that readers wait for room; and whether the run was
/// cancelled.
struct Progress {
    slots: Vec<SlotProgress>,
    cancelled: AtomicBool,
}

/// Items of one slot delivered so far.
struct SlotProgress {
    delivered: Mutex<u64>,
    moved: Condvar,
}

impl Progress {
    fn new(slots: usize) -> Self {
        Progress {
            slots: (0..slots)
                .map(|_| SlotProgress {
                    delivered: Mutex::new(0),
                    moved: Condvar::new(),
                })
                .collect(),
            cancelled: AtomicBool::new(false),
        }
    }

    /// Waits until item `seq` of `slot` is within [`LOOKAHEAD`] of the slot's delivery;
    /// `false` when the run is cancelled.
    fn wait_for_room(&self, slot: usize, seq: u64) -> bool {
        let progress = &self.slots[slot];
        let mut delivered = progress.delivered.lock().unwrap_or_else(|e| e.into_inner());
        while seq >= *delivered + LOOKAHEAD && !self.cancelled.load(Ordering::Relaxed) {
            delivered = progress
                .moved
                .wait(delivered)
                .unwrap_or_else(|e| e.into_inner());
        }
        !self.cancelled.load(Ordering::Relaxed)
    }

    fn advance(&self, slot: usize, delivered: u64) {
        let progress = &self.slots[slot];
        *progress.delivered.lock().unwrap_or_else(|e| e.into_inner()) = delivered;
        progress.moved.notify_all();
    }

    fn cancel(&self) {
        self.cancelled.store(true, Ordering::Relaxed);
        for progress in &self.slots {
            let _guard = progress.delivered.lock().unwrap_or_else(|e| e.into_inner());
            progress.moved.notify_all();
        }
    }
}

/// Runs the pipeline over `inputs`, calling `deliver` on this thread with each decoded chunk and
/// the end of each input, slot by slot in turn (see the module documentation). `bytes_in`
/// counts raw bytes read. An error from `deliver` stops the run.
pub fn run(
    inputs: &[Input],
    options: &PipelineOptions,
    bytes_in: &Arc<AtomicU64>,
    mut deliver: impl FnMut(Delivery) -> Result<()>,
) -> Result<()> {
    if inputs.is_empty() {
        return Ok(());
    }
    let threads = options.threads.max(1);
    let slots = threads.min(inputs.len());
    // Every decoder is created up front so a bad option fails before any thread starts.
    let decoders: Vec<Decoder> = (0..threads)
        .map(|_| {
            Decoder::try_new(options.schema.clone(), options.decode).map(|d| {
                d.with_partition_fields(options.partition_fields.clone())
                    .with_csv_columns(options.csv_columns.clone())
            })
        })
        .collect::<Result<_>>()?;
    let progress = Progress::new(slots);
    let (chunk_tx, chunk_rx) = bounded::<Chunk>(threads * 2);
    let (event_tx, event_rx) = bounded::<Event>(threads * 4);
    // As many as can be queued for decoders: enough that readers rarely allocate.
    let spare = SpareBuffers::new(threads * 2, options.chunk_bytes);

    std::thread::scope(|scope| {
        for slot in 0..slots {
            let chunk_tx = chunk_tx.clone();
            let event_tx = event_tx.clone();
            let (progress, spare) = (&progress, &spare);
            spawn_named(scope, format!("reader-{slot}"), move || {
                let _guard = CrashGuard {
                    progress,
                    events: event_tx.clone(),
                };
                lower_thread_priority(READER_NICENESS);
                let mut seq = 0;
                for i in (slot..inputs.len()).step_by(slots) {
                    let reader = SlotReader {
                        slot,
                        options,
                        bytes_in,
                        chunks: &chunk_tx,
                        progress,
                        spare,
                    };
                    let end = reader.read_input(i, &inputs[i], &mut seq);
                    if progress.cancelled.load(Ordering::Relaxed) {
                        return;
                    }
                    let event = Event::Item {
                        slot,
                        seq,
                        item: end,
                    };
                    seq += 1;
                    if event_tx.send(event).is_err() {
                        return;
                    }
                }
            });
        }
        drop(chunk_tx);
        for (n, decoder) in decoders.into_iter().enumerate() {
            let chunk_rx = chunk_rx.clone();
            let event_tx = event_tx.clone();
            let (progress, spare) = (&progress, &spare);
            spawn_named(scope, format!("decoder-{n}"), move || {
                let _guard = CrashGuard {
                    progress,
                    events: event_tx.clone(),
                };
                lower_thread_priority(DECODER_NICENESS);
                decode_chunks(decoder, &chunk_rx, &event_tx, spare);
            });
        }
        drop(chunk_rx);
        drop(event_tx);

        // A panic in `deliver` must stop the other threads too, or the scope would wait for
        // readers waiting for room.
        let cancel_on_unwind = CancelOnUnwind(&progress);
        let result = collect(inputs.len(), slots, &event_rx, &progress, &mut deliver);
        drop(cancel_on_unwind);
        if result.is_err() {
            progress.cancel();
        }
        // Dropping the receiver unblocks any thread still sending, so the scope can end.
        drop(event_rx);
        result
    })
}

/// Starts a pipeline thread with a name (profilers and debuggers show it).
fn spawn_named<'scope>(
    scope: &'scope std::thread::Scope<'scope, '_>,
    name: String,
    work: impl FnOnce() + Send + 'scope,
) {
    std::thread::Builder::new()
        .name(name)
        .spawn_scoped(scope, work)
        .expect("the system can start a pipeline thread");
}

/// Raises the calling thread's nice value by `steps` (capped at 19), so it gets less CPU than
/// threads at the process's own level when they compete. Linux keeps a nice value per thread.
/// Only ever lowers the priority, so it needs no privilege; if the system refuses, the thread
/// keeps its priority, which costs speed, not correctness. Elsewhere it does nothing.
pub fn lower_thread_priority(steps: i32) {
    #[cfg(target_os = "linux")]
    {
        use rustix::process::{getpriority_process, setpriority_process};
        let thread = Some(rustix::thread::gettid());
        if let Ok(current) = getpriority_process(thread) {
            let _ = setpriority_process(thread, (current + steps).min(19));
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = steps;
}

/// Puts items back in order and delivers them: the next item of each slot in turn, until every
/// input has ended.
fn collect(
    inputs: usize,
    slots: usize,
    events: &Receiver<Event>,
    progress: &Progress,
    deliver: &mut impl FnMut(Delivery) -> Result<()>,
) -> Result<()> {
    let mut pending: Vec<BTreeMap<u64, Delivery>> = (0..slots).map(|_| BTreeMap::new()).collect();
    let mut next = vec![0u64; slots];
    // Inputs of each slot not yet ended.
    let mut left: Vec<usize> = (0..slots)
        .map(|slot| (slot..inputs).step_by(slots).count())
        .collect();
    let mut turn = 0;
    while left.iter().any(|&n| n > 0) {
        while left[turn] == 0 {
            turn = (turn + 1) % slots;
        }
        if let Some(item) = pending[turn].remove(&next[turn]) {
            next[turn] += 1;
            progress.advance(turn, next[turn]);
            if !matches!(item, Delivery::Chunk { .. }) {
                left[turn] -= 1;
            }
            deliver(item)?;
            turn = (turn + 1) % slots;
            continue;
        }
        match events
            .recv()
            .map_err(|_| Error::Pipeline("a pipeline thread stopped early".into()))?
        {
            Event::Item { slot, seq, item } => {
                pending[slot].insert(seq, item);
            }
            Event::Crashed(reason) => return Err(Error::Pipeline(reason)),
        }
    }
    Ok(())
}

/// What a slot's reader needs while it reads its inputs.
struct SlotReader<'a> {
    slot: usize,
    options: &'a PipelineOptions,
    bytes_in: &'a Arc<AtomicU64>,
    chunks: &'a Sender<Chunk>,
    progress: &'a Progress,
    spare: &'a SpareBuffers,
}

impl SlotReader<'_> {
    /// Reads input `i` into chunks, items `*seq`, `*seq + 1`, ... of the slot; returns the item
    /// that ends it (to be numbered next), having counted the chunks in `seq`.
    fn read_input(&self, i: usize, input: &Input, seq: &mut u64) -> Delivery {
        let source: Arc<str> = input.source.display_name().into();
        let failed = |line: u64, e: std::io::Error| Delivery::InputFailed {
            input: i,
            failure: FailedInput {
                input: source.to_string(),
                error: error_chain(&Error::InputRead {
                    path: source.to_string(),
                    line,
                    source: e,
                }),
                lines_discarded: line,
            },
        };
        let stopped = || std::io::Error::other("the run was stopped");
        let reader = match input::open(input, self.bytes_in.clone()) {
            Ok(r) => r,
            Err(e) => return failed(0, e),
        };
        let mut lines = LineReader::new(reader, self.options.max_line_bytes);
        let mut digest = matches!(input.source, Source::Stdin).then(Sha256::new);
        let new_chunk = || {
            let (text, lines) = self.spare.take();
            Chunk {
                slot: self.slot,
                seq: 0,
                input: i,
                source: source.clone(),
                text,
                lines,
                rejects: Vec::new(),
                blank_lines: 0,
            }
        };
        // Numbers the chunk and sends it once the slot has room for it.
        let send = |mut chunk: Chunk, seq: &mut u64| {
            chunk.seq = *seq;
            *seq += 1;
            self.progress.wait_for_room(self.slot, chunk.seq) && self.chunks.send(chunk).is_ok()
        };
        let mut chunk = new_chunk();
        loop {
            let (number, line) = match lines.next_line() {
                Ok(Some(next)) => next,
                Ok(None) => break,
                Err(e) => {
                    // The lines read before the failure go out first: `--salvage` keeps them.
                    let read = !chunk.lines.is_empty() || !chunk.rejects.is_empty();
                    if read && !send(chunk, seq) {
                        return failed(lines.line_no(), stopped());
                    }
                    return failed(lines.line_no(), e);
                }
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
                            self.options.max_line_bytes
                        ),
                        head,
                        len,
                    ));
                }
            }
            if chunk.text.len() >= self.options.chunk_bytes
                && !send(std::mem::replace(&mut chunk, new_chunk()), seq)
            {
                return failed(lines.line_no(), stopped());
            }
        }
        let empty = chunk.lines.is_empty() && chunk.rejects.is_empty() && chunk.blank_lines == 0;
        if !empty && !send(chunk, seq) {
            return failed(lines.line_no(), stopped());
        }
        Delivery::InputDone {
            input: i,
            content_digest: digest.map(|d| crate::hex(&d.finalize())),
        }
    }
}

/// A decoder thread: turns chunks into decoded chunks until the chunk channel closes.
fn decode_chunks(
    mut decoder: Decoder,
    chunks: &Receiver<Chunk>,
    events: &Sender<Event>,
    spare: &SpareBuffers,
) {
    for chunk in chunks {
        let mut batches = Vec::new();
        let mut rejects = chunk.rejects;
        let mut start = 0usize;
        for &(end, number) in &chunk.lines {
            let line = &chunk.text[start..end as usize];
            start = end as usize;
            #[cfg(test)]
            if line == tests::PANIC_LINE {
                panic!("injected decoder panic");
            }
            if decoder.is_full() {
                match decoder.flush() {
                    Ok(batch) => batches.extend(batch),
                    Err(e) => {
                        let _ = events.send(Event::Crashed(format!("build a batch: {e}")));
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
                let _ = events.send(Event::Crashed(format!("build a batch: {e}")));
                return;
            }
        }
        rejects.sort_by_key(|r| r.line);
        let text_bytes = start as u64;
        spare.give((chunk.text, chunk.lines));
        let decoded = DecodedChunk {
            batches,
            rejects,
            stats: decoder.take_stats(),
            blank_lines: chunk.blank_lines,
            text_bytes,
        };
        let event = Event::Item {
            slot: chunk.slot,
            seq: chunk.seq,
            item: Delivery::Chunk {
                input: chunk.input,
                decoded,
            },
        };
        if events.send(event).is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::expand;

    /// Everything delivered, in delivery order: each chunk's rows (dictionaries as plain
    /// strings) with its input, the rejects (source, line), and the events ("chunk 3",
    /// "done 3").
    type Delivered = (Vec<(usize, RecordBatch)>, Vec<(String, u64)>, Vec<String>);

    fn deliveries(threads: usize, chunk_bytes: usize) -> Delivered {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let args = [
            root.join("examples/data").display().to_string(),
            root.join("tests/fixtures/mixed.ndjson")
                .display()
                .to_string(),
        ];
        let inputs = expand(&args, &crate::storage::tests::storage())
            .unwrap()
            .inputs;
        let options = PipelineOptions {
            schema: Arc::new(EventSchema::spectrum_events()),
            decode: DecodeOptions::default(),
            max_line_bytes: 1 << 20,
            threads,
            partition_fields: Vec::new(),
            csv_columns: None,
            chunk_bytes,
        };
        let (mut rows, mut rejects, mut events) = (Vec::new(), Vec::new(), Vec::new());
        run(&inputs, &options, &Arc::new(AtomicU64::new(0)), |d| {
            match d {
                Delivery::Chunk { input, decoded } => {
                    for batch in &decoded.batches {
                        let columns = batch
                            .columns()
                            .iter()
                            .map(|c| match c.data_type() {
                                arrow_schema::DataType::Dictionary(_, v) => {
                                    arrow_cast::cast(c, v).unwrap()
                                }
                                _ => c.clone(),
                            })
                            .collect::<Vec<_>>();
                        let names = batch
                            .schema()
                            .fields()
                            .iter()
                            .map(|f| f.name().clone())
                            .collect::<Vec<_>>();
                        rows.push((
                            input,
                            RecordBatch::try_from_iter_with_nullable(
                                names.into_iter().zip(columns).map(|(n, c)| (n, c, true)),
                            )
                            .unwrap(),
                        ));
                    }
                    events.push(format!("chunk {input}"));
                    rejects.extend(decoded.rejects.iter().map(|r| (r.source.clone(), r.line)));
                }
                Delivery::InputDone { input, .. } => events.push(format!("done {input}")),
                Delivery::InputFailed { input, .. } => events.push(format!("failed {input}")),
            }
            Ok(())
        })
        .unwrap();
        (rows, rejects, events)
    }

    /// Each input's rows, in the order they came.
    fn rows_by_input(rows: &[(usize, RecordBatch)]) -> BTreeMap<usize, RecordBatch> {
        let mut by_input: BTreeMap<usize, Vec<RecordBatch>> = BTreeMap::new();
        for (input, batch) in rows {
            by_input.entry(*input).or_default().push(batch.clone());
        }
        by_input
            .into_iter()
            .map(|(input, batches)| {
                let all = arrow_select::concat::concat_batches(&batches[0].schema(), &batches);
                (input, all.unwrap())
            })
            .collect()
    }

    #[test]
    fn spare_buffers_come_back_empty_and_only_the_ones_of_planned_size_are_kept() {
        let spare = SpareBuffers::new(2, 1000);
        let (mut text, mut lines) = spare.take();
        assert!(text.is_empty() && lines.is_empty() && text.capacity() >= 1000);
        text.extend_from_slice(b"{}");
        lines.push((2, 1));
        let address = text.as_ptr();
        spare.give((text, lines));
        let (text, lines) = spare.take();
        assert_eq!(text.as_ptr(), address, "the same buffer is filled again");
        assert!(text.is_empty() && lines.is_empty(), "and comes back empty");

        // A buffer that grew for a long line is freed: the next one is of the planned size.
        spare.give((vec![0; 20_000], Vec::new()));
        assert!(spare.take().0.capacity() < 20_000);

        // The pool holds at most two idle buffers.
        for _ in 0..3 {
            spare.give((Vec::with_capacity(1000), Vec::new()));
        }
        assert_eq!(spare.take.len(), 2);
        drop(text);
    }

    /// A line that makes a decoder thread panic, in test builds only.
    pub(super) const PANIC_LINE: &[u8] = b"{\"__test_panic_in_decoder__\":1}";

    #[cfg(target_os = "linux")]
    #[test]
    fn lowering_a_threads_priority_leaves_the_other_threads_alone() {
        use rustix::process::getpriority_process;
        let nice = || getpriority_process(Some(rustix::thread::gettid())).unwrap();
        let caller = nice();
        let (before, after) = std::thread::spawn(move || {
            let before = nice();
            lower_thread_priority(3);
            let lowered = nice();
            lower_thread_priority(40);
            (before, (lowered, nice()))
        })
        .join()
        .unwrap();
        assert_eq!(before, caller, "a new thread starts at its creator's level");
        assert_eq!(
            after,
            ((caller + 3).min(19), 19),
            "lowered by 3, then capped at 19"
        );
        assert_eq!(nice(), caller, "the caller keeps its priority");
    }

    #[test]
    fn a_decoder_that_dies_stops_the_run_instead_of_hanging_it() {
        let dir = tempfile::tempdir().unwrap();
        let mut args = Vec::new();
        for i in 0..4 {
            let path = dir.path().join(format!("{i}.ndjson"));
            let mut text: Vec<u8> = (0..2000)
                .flat_map(|n| format!("{{\"Status\":{n}}}\n").into_bytes())
                .collect();
            if i == 1 {
                text.extend_from_slice(PANIC_LINE);
                text.push(b'\n');
            }
            std::fs::write(&path, text).unwrap();
            args.push(path.display().to_string());
        }
        let inputs = expand(&args, &crate::storage::tests::storage())
            .unwrap()
            .inputs;
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let options = PipelineOptions {
                schema: Arc::new(EventSchema::spectrum_events()),
                decode: DecodeOptions::default(),
                max_line_bytes: 1 << 20,
                threads: 2,
                partition_fields: Vec::new(),
                csv_columns: None,
                chunk_bytes: 64,
            };
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                run(&inputs, &options, &Arc::new(AtomicU64::new(0)), |_| Ok(()))
            }));
            let _ = done_tx.send(outcome.is_err() || outcome.is_ok_and(|r| r.is_err()));
        });
        let stopped = done_rx
            .recv_timeout(std::time::Duration::from_secs(60))
            .expect("the run hung after a decoder thread died");
        assert!(stopped, "the run must fail when a decoder thread dies");
    }

    #[test]
    fn a_panic_in_the_callers_thread_stops_the_run_instead_of_hanging_it() {
        // Regression: readers waiting for their turn kept the scope from ending.
        let dir = tempfile::tempdir().unwrap();
        let mut args = Vec::new();
        for i in 0..6 {
            let path = dir.path().join(format!("{i}.ndjson"));
            let text: Vec<u8> = (0..2000)
                .flat_map(|n| format!("{{\"Status\":{n}}}\n").into_bytes())
                .collect();
            std::fs::write(&path, text).unwrap();
            args.push(path.display().to_string());
        }
        let inputs = expand(&args, &crate::storage::tests::storage())
            .unwrap()
            .inputs;
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let options = PipelineOptions {
                schema: Arc::new(EventSchema::spectrum_events()),
                decode: DecodeOptions::default(),
                max_line_bytes: 1 << 20,
                threads: 2,
                partition_fields: Vec::new(),
                csv_columns: None,
                chunk_bytes: 64,
            };
            let mut delivered = 0;
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                run(&inputs, &options, &Arc::new(AtomicU64::new(0)), |_| {
                    delivered += 1;
                    assert!(delivered < 3, "injected panic in the caller");
                    Ok(())
                })
            }));
            let _ = done_tx.send(outcome.is_err());
        });
        let panicked = done_rx
            .recv_timeout(std::time::Duration::from_secs(60))
            .expect("the run hung after the caller's thread panicked");
        assert!(panicked, "the caller's panic reaches the caller");
    }

    #[test]
    fn any_chunk_size_and_thread_count_delivers_each_inputs_lines_once_and_in_order() {
        let reference = deliveries(1, CHUNK_BYTES);
        let mut expected_events: Vec<String> = (0..5)
            .flat_map(|i| [format!("chunk {i}"), format!("done {i}")])
            .collect();
        let mut one_thread = reference.2.clone();
        one_thread.dedup();
        assert_eq!(
            one_thread, expected_events,
            "one slot: the inputs one after another"
        );
        assert_eq!(
            reference.1.len(),
            4,
            "2 sample rejects and 2 fixture rejects"
        );
        let reference_rows = rows_by_input(&reference.0);
        let total: usize = reference_rows.values().map(RecordBatch::num_rows).sum();
        assert_eq!(total, 1306);
        expected_events.sort();
        for (threads, chunk_bytes) in [
            (1, 1),
            (2, 1),
            (4, 1),
            (2, 100),
            (3, 4096),
            (2, CHUNK_BYTES),
            (8, 1),
        ] {
            let (rows, mut rejects, events) = deliveries(threads, chunk_bytes);
            let case = format!("{threads} threads, {chunk_bytes}-byte chunks");
            assert!(
                rows_by_input(&rows) == reference_rows,
                "{case}: rows differ"
            );
            rejects.sort();
            let mut expected_rejects = reference.1.clone();
            expected_rejects.sort();
            assert_eq!(rejects, expected_rejects, "{case}");
            // Each input ends once, after all its chunks.
            for input in 0..5 {
                let done = events.iter().position(|e| *e == format!("done {input}"));
                let last_chunk = events.iter().rposition(|e| *e == format!("chunk {input}"));
                assert!(
                    done > last_chunk,
                    "{case}: input {input} ended before its chunks"
                );
            }
            let mut kinds = events.clone();
            kinds.sort();
            kinds.dedup();
            assert_eq!(kinds, expected_events, "{case}");
            assert_eq!(
                events.iter().filter(|e| e.starts_with("done")).count(),
                5,
                "{case}"
            );
            // The same options deliver the same items in the same order, every run.
            let again = deliveries(threads, chunk_bytes);
            assert!(
                again.0 == rows && again.2 == events,
                "{case}: delivery order moved"
            );
        }
    }

    #[test]
    fn slots_take_turns() {
        // Two slots, tiny chunks: inputs 0 and 1 are read at once and delivered alternately.
        let (_, _, events) = deliveries(2, 100);
        let first: Vec<&str> = events.iter().take(6).map(String::as_str).collect();
        assert_eq!(
            first,
            [
                "chunk 0", "chunk 1", "chunk 0", "chunk 1", "chunk 0", "chunk 1"
            ]
        );
    }
}
