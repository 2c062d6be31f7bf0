//! The partition router: sends each partition's rows to its open file, or to the overflow when
//! as many files are open as the memory budget allows, and keeps the memory of the row groups
//! being built within its budget.
//!
//! Every decision here (which file a row goes to, when a file is closed, rolled or its row
//! group written out early) is taken on the rows routed so far and on sizes that the files
//! report as of their last segment back (see `file.rs`): the same rows give the same files, byte
//! for byte, whatever the encoder threads do.

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;

use arrow_array::{RecordBatch, UInt32Array};
use arrow_schema::SchemaRef;
use crossbeam_channel::{Receiver, Sender, unbounded};
use parquet::file::properties::WriterProperties;

use super::encode::EncoderPool;
use super::file::{FileFactory, RollingFile, StagedFile};
use super::options::WriterLimits;
use super::spill::Overflow;
use crate::error::{Error, Result};
use crate::partition::Split;

/// Writes record batches into one rolling Parquet file per partition, in a staging folder.
pub struct PartitionedWriter {
    files: Arc<FileFactory>,
    pool: EncoderPool,
    limits: WriterLimits,
    /// Open files by partition (ordered, so that ties are broken the same way every run).
    open: BTreeMap<String, RollingFile>,
    next_seq: HashMap<String, u32>,
    /// Files handed to their closing task, coming back here.
    closed: (Sender<Result<StagedFile>>, Receiver<Result<StagedFile>>),
    closing: usize,
    staged: Vec<StagedFile>,
    /// Memory of the open files' row groups being built, as they last reported it.
    buffered: usize,
    /// Memory of row groups handed over to be appended and not yet waited for.
    appending: usize,
    overflow: Overflow,
    /// Splits written so far: the clock of `RollingFile::last_split`.
    splits: u64,
}

impl PartitionedWriter {
    /// A writer of files with `schema` into the (existing) `staging` folder, encoding on
    /// `limits.encode_threads` threads.
    pub fn try_new(
        staging: PathBuf,
        schema: SchemaRef,
        properties: WriterProperties,
        limits: WriterLimits,
    ) -> Result<Self> {
        let overflow = Overflow::new(staging.clone(), &schema, limits.overflow_bytes);
        let fields = schema.fields().len();
        Ok(PartitionedWriter {
            files: Arc::new(FileFactory::try_new(
                staging,
                schema,
                properties,
                limits.max_file_bytes,
            )?),
            pool: EncoderPool::new(limits.encode_threads, fields),
            limits,
            open: BTreeMap::new(),
            next_seq: HashMap::new(),
            closed: unbounded(),
            closing: 0,
            staged: Vec::new(),
            buffered: 0,
            appending: 0,
            overflow,
            splits: 0,
        })
    }

    /// Appends the rows of `split`, partition by partition: to the partition's open file (rolling
    /// it at the size limit), or, when as many files as allowed are open, to the overflow.
    pub fn write_split(&mut self, split: &Split) -> Result<()> {
        let mut overflowing: Vec<(&str, Range<usize>)> = Vec::new();
        let mut offset = 0;
        for (partition, rows) in &split.groups {
            let range = offset..offset + rows;
            offset += rows;
            if range.is_empty() {
                continue;
            }
            if !self.open.contains_key(partition) {
                // A partition that overflowed once stays there, so its rows keep their order.
                if self.overflow.holds(partition)
                    || (self.open.len() >= self.limits.max_open_files && !self.close_idle()?)
                {
                    overflowing.push((partition, range));
                    continue;
                }
                let file = self.open_file(partition);
                self.open.insert(partition.to_string(), file);
            }
            // A piece of less than half its batch is copied out: waiting in its file for a
            // segment, a slice would keep the whole batch alive.
            let piece = if range.len() * 2 < split.batch.num_rows() {
                let rows = UInt32Array::from_iter_values(range.start as u32..range.end as u32);
                arrow_select::take::take_record_batch(&split.batch, &rows)?
            } else {
                split.batch.slice(range.start, range.len())
            };
            self.write_open(partition, piece)?;
        }
        self.splits += 1;
        if overflowing.is_empty() {
            return Ok(());
        }
        self.overflow.push(&split.batch, overflowing)
    }

    /// Appends all of `batch` to `partition` (see [`PartitionedWriter::write_split`]).
    pub fn write(&mut self, partition: &str, batch: &RecordBatch) -> Result<()> {
        self.write_split(&Split {
            batch: batch.clone(),
            groups: vec![(partition.to_string(), batch.num_rows())],
        })
    }

    /// Closes the open file written least recently, if no rows came to it for
    /// [`WriterLimits::idle_splits`] splits, to make room for another partition; returns whether it did. Archives come in
    /// time order, so with `date,hour` partitions an hour's file goes idle once the hour is
    /// over: closing it keeps a day of hours out of the overflow. Rows that still come to the
    /// closed partition go to the overflow (and a second file at the end).
    fn close_idle(&mut self) -> Result<bool> {
        let Some((partition, last)) = self
            .open
            .iter()
            .map(|(p, f)| (p, f.last_split))
            .min_by_key(|(_, last)| *last)
        else {
            return Ok(false);
        };
        if self.splits - last < self.limits.idle_splits {
            return Ok(false);
        }
        let partition = partition.clone();
        let file = self.open.remove(&partition).expect("listed above");
        self.close_file(file)?;
        self.overflow.take_over(partition);
        Ok(true)
    }

    fn write_open(&mut self, partition: &str, piece: RecordBatch) -> Result<()> {
        let file = self.open.get_mut(partition).expect("opened by the caller");
        file.last_split = self.splits;
        let before = (file.buffered(), file.appending());
        file.push(&self.pool, piece)?;
        self.account(before, partition);
        if self.open[partition].size() >= self.limits.max_file_bytes {
            let file = self.open.remove(partition).expect("present");
            self.close_file(file)?;
        }
        if self.buffered + self.appending > self.limits.buffer_bytes {
            self.flush_largest()?;
        }
        Ok(())
    }

    /// Updates the totals after an open file's row groups changed from `before` (being built,
    /// being appended).
    fn account(&mut self, before: (usize, usize), partition: &str) {
        let file = &self.open[partition];
        self.buffered = (self.buffered + file.buffered()).saturating_sub(before.0);
        self.appending = (self.appending + file.appending()).saturating_sub(before.1);
    }

    /// Brings the row groups' memory back under the buffer budget: waits for the row groups
    /// being appended, then hands the largest ones being built over to be appended until half
    /// the budget is free. (They are waited for the next time the budget is exceeded, so that
    /// encoding goes on meanwhile; at most a budget and a half is held at any time.)
    fn flush_largest(&mut self) -> Result<()> {
        let appending: Vec<String> = self
            .open
            .iter()
            .filter(|(_, f)| f.appending() > 0)
            .map(|(p, _)| p.clone())
            .collect();
        for partition in appending {
            let before = (
                self.open[&partition].buffered(),
                self.open[&partition].appending(),
            );
            self.open
                .get_mut(&partition)
                .expect("listed above")
                .settle()?;
            self.account(before, &partition);
        }
        let mut by_size: Vec<(usize, String)> = self
            .open
            .iter()
            .filter(|(_, f)| f.buffered() > 0)
            .map(|(p, f)| (f.buffered(), p.clone()))
            .collect();
        by_size.sort_unstable_by(|a, b| b.cmp(a));
        for (_, partition) in by_size {
            if self.buffered <= self.limits.buffer_bytes / 2 {
                break;
            }
            let file = self.open.get_mut(&partition).expect("listed above");
            let before = (file.buffered(), file.appending());
            file.finish_row_group(&self.pool)?;
            self.account(before, &partition);
        }
        Ok(())
    }

    fn open_file(&mut self, partition: &str) -> RollingFile {
        let seq = self.next_seq.entry(partition.to_string()).or_insert(0);
        let file = self.files.open(partition, *seq);
        *seq += 1;
        file
    }

    /// Hands `file` to its closing task; waits for earlier ones while too many are closing, so
    /// that their rows and writers do not pile up in memory.
    fn close_file(&mut self, file: RollingFile) -> Result<()> {
        self.buffered = self.buffered.saturating_sub(file.buffered());
        self.appending = self.appending.saturating_sub(file.appending());
        file.close(&self.pool, &self.closed.0)?;
        self.closing += 1;
        let most = self.limits.max_open_files + 2 * self.pool.threads();
        while self.closing > most {
            self.receive_closed()?;
        }
        Ok(())
    }

    /// Waits for one closing file (every closing task sends its result, even one that panics).
    fn receive_closed(&mut self) -> Result<()> {
        let staged = self.closed.1.recv().map_err(|_| {
            Error::Pipeline("an encoder thread stopped while closing a file".into())
        })?;
        self.closing -= 1;
        self.staged.push(staged?);
        Ok(())
    }

    /// Writes each overflowed partition into its own file(s), its rows in the order they came.
    fn write_overflow(&mut self) -> Result<()> {
        let overflow = std::mem::replace(
            &mut self.overflow,
            Overflow::new(self.files.staging().clone(), self.files.schema(), 0),
        );
        let mut current: Option<RollingFile> = None;
        let mut current_partition = String::new();
        overflow.drain(|partition, piece| {
            if current.is_none() || current_partition != partition {
                if let Some(file) = current.take() {
                    self.close_file(file)?;
                }
                current_partition = partition.to_string();
                current = Some(self.open_file(partition));
            }
            let file = current.as_mut().expect("opened above");
            file.push(&self.pool, piece)?;
            if file.size() >= self.limits.max_file_bytes {
                let full = current.take().expect("just written");
                self.close_file(full)?;
                current = Some(self.open_file(partition));
            } else if file.buffered() > self.limits.buffer_bytes {
                file.finish_row_group(&self.pool)?;
            }
            Ok(())
        })?;
        if let Some(file) = current.take() {
            self.close_file(file)?;
        }
        Ok(())
    }

    /// Closes every open file, writes the overflowed partitions, and returns all staged files
    /// of the run, in a stable order.
    pub fn finish(mut self) -> Result<Vec<StagedFile>> {
        let open = std::mem::take(&mut self.open);
        for (_, file) in open {
            self.close_file(file)?;
        }
        self.write_overflow()?;
        // Every closing file is waited for, so that a failed one's error is the one reported.
        let mut first_error = None;
        while self.closing > 0 {
            if let Err(e) = self.receive_closed() {
                first_error.get_or_insert(e);
            }
        }
        if let Some(e) = first_error {
            return Err(e);
        }
        self.staged
            .sort_by(|a, b| (&a.partition, a.seq).cmp(&(&b.partition, b.seq)));
        Ok(self.staged)
    }
}
#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::{DecodeOptions, Decoder};
    use crate::partition::{PartitionSpec, split};
    use crate::schema::EventSchema;
    use crate::write::options::ParquetOptions;
    use arrow_array::cast::AsArray;
    use arrow_array::types::Int64Type;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use std::collections::BTreeMap;
    use std::fs::File;
    use std::sync::Arc;

    /// Writes `lines` partitioned by Application with `limits`; returns, per staged file, its
    /// partition, its number and the Status values it holds, in order.
    fn write_all(lines: &[String], limits: WriterLimits) -> Vec<(String, u32, Vec<i64>)> {
        let schema = Arc::new(EventSchema::spectrum_events());
        let spec = PartitionSpec::parse("Application", &schema).unwrap();
        let mut decoder = Decoder::try_new(
            schema.clone(),
            DecodeOptions {
                batch_size: 5,
                ..DecodeOptions::default()
            },
        )
        .unwrap();
        let staging = tempfile::tempdir().unwrap();
        let file_schema = spec.file_schema(decoder.arrow_schema());
        let properties = ParquetOptions::default()
            .writer_properties(&schema, Vec::new())
            .unwrap();
        let mut writer = PartitionedWriter::try_new(
            staging.path().to_path_buf(),
            file_schema,
            properties,
            limits,
        )
        .unwrap();
        for chunk in lines.chunks(5) {
            for line in chunk {
                decoder.decode_line(line.as_bytes()).unwrap();
            }
            let batch = decoder.flush().unwrap().unwrap();
            writer.write_split(&split(&batch, &spec).unwrap()).unwrap();
        }
        let staged = writer.finish().unwrap();
        let leftovers: Vec<_> = std::fs::read_dir(staging.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().starts_with("run-"))
            .collect();
        assert!(
            leftovers.is_empty(),
            "spill runs are removed after the merge"
        );
        staged
            .into_iter()
            .map(|f| {
                let file = File::open(&f.temp).unwrap();
                let reader = ParquetRecordBatchReaderBuilder::try_new(file)
                    .unwrap()
                    .build()
                    .unwrap();
                let statuses = reader
                    .flat_map(|b| {
                        let b = b.unwrap();
                        b.column_by_name("Status")
                            .unwrap()
                            .as_primitive::<Int64Type>()
                            .values()
                            .to_vec()
                    })
                    .collect();
                (f.partition, f.seq, statuses)
            })
            .collect()
    }

    #[test]
    fn spilled_partitions_are_merged_into_one_file_each_in_row_order() {
        let lines: Vec<String> = (0..400)
            .map(|i| {
                format!(
                    r#"{{"Application":"a{}","Status":{i},"Event":"connect"}}"#,
                    (i * 13) % 37
                )
            })
            .collect();
        let roomy = WriterLimits {
            max_file_bytes: u64::MAX,
            buffer_bytes: usize::MAX,
            max_open_files: 1000,
            overflow_bytes: usize::MAX,
            encode_threads: 1,
            idle_splits: 32,
        };
        let expected = write_all(&lines, roomy);
        assert_eq!(expected.len(), 37);
        for encode_threads in [1, 3] {
            // Two open files, and every overflowing piece spilled at once: many runs to merge.
            let tight = WriterLimits {
                max_open_files: 2,
                overflow_bytes: 1,
                buffer_bytes: 1,
                encode_threads,
                ..roomy
            };
            let got = write_all(&lines, tight);
            assert_eq!(got, expected, "{encode_threads} encoder threads");
            for (partition, _, statuses) in &got {
                assert!(statuses.windows(2).all(|w| w[0] < w[1]), "{partition}");
            }
        }
    }

    /// Two open files at most, nothing else limited.
    const TWO_OPEN_FILES: WriterLimits = WriterLimits {
        max_file_bytes: u64::MAX,
        buffer_bytes: usize::MAX,
        max_open_files: 2,
        overflow_bytes: usize::MAX,
        encode_threads: 1,
        idle_splits: 32,
    };

    /// Partition, sequence number and row count of each file written by [`write_all`].
    fn file_layout(files: &[(String, u32, Vec<i64>)]) -> Vec<(&str, u32, usize)> {
        files
            .iter()
            .map(|(p, seq, statuses)| (p.as_str(), *seq, statuses.len()))
            .collect()
    }

    #[test]
    fn idle_files_make_room_so_time_ordered_partitions_skip_the_overflow() {
        // Ten partitions one after the other (like hours), two files open at most: each closes
        // when idle, so each partition gets one file and nothing overflows. A straggler of the
        // first partition at the end goes to the overflow, into a second file after the first.
        let mut lines: Vec<String> = (0..10)
            .flat_map(|p| {
                (0..200)
                    .map(move |i| format!(r#"{{"Application":"p{p}","Status":{}}}"#, p * 1000 + i))
            })
            .collect();
        lines.push(r#"{"Application":"p0","Status":99999}"#.to_string());
        let got = write_all(&lines, TWO_OPEN_FILES);
        let layout = file_layout(&got);
        let mut expected = vec![("Application=p0", 0, 200), ("Application=p0", 1, 1)];
        let names: Vec<String> = (1..10).map(|p| format!("Application=p{p}")).collect();
        expected.extend(names.iter().map(|n| (n.as_str(), 0, 200)));
        assert_eq!(layout, expected);
        assert_eq!(got[1].2, [99999], "the straggler comes last");
        for (partition, _, statuses) in &got {
            assert!(statuses.windows(2).all(|w| w[0] < w[1]), "{partition}");
        }
    }

    #[test]
    fn files_in_use_are_not_closed_to_make_room() {
        // A and B take turns batch by batch (5 rows each), two files open at most: neither is
        // ever idle for long, so C's row goes to the overflow and every partition gets one file.
        let mut lines: Vec<String> = (0..100)
            .flat_map(|b| {
                let p = if b % 2 == 0 { "A" } else { "B" };
                (0..5).map(move |i| format!(r#"{{"Application":"{p}","Status":{}}}"#, b * 10 + i))
            })
            .collect();
        lines[251] = r#"{"Application":"C","Status":7}"#.to_string();
        let got = write_all(&lines, TWO_OPEN_FILES);
        let layout = file_layout(&got);
        assert_eq!(
            layout,
            [
                ("Application=A", 0, 249),
                ("Application=B", 0, 250),
                ("Application=C", 0, 1)
            ]
        );
    }

    #[test]
    fn files_rolled_in_the_merge_keep_numbering_and_row_order() {
        let lines: Vec<String> = (0..300)
            .map(|i| format!(r#"{{"Application":"a{}","Status":{i}}}"#, (i * 7) % 11))
            .collect();
        // Every file is full as soon as its first segment is encoded: partitions get several
        // files each, in the main phase and the merge.
        let limits = WriterLimits {
            max_file_bytes: 1,
            buffer_bytes: 1,
            max_open_files: 2,
            overflow_bytes: 1,
            encode_threads: 2,
            idle_splits: 32,
        };
        let got = write_all(&lines, limits);
        let mut by_partition: BTreeMap<&str, (Vec<u32>, Vec<i64>)> = BTreeMap::new();
        for (partition, seq, statuses) in &got {
            let (seqs, all) = by_partition.entry(partition).or_default();
            seqs.push(*seq);
            all.extend(statuses);
        }
        assert_eq!(by_partition.len(), 11);
        for (partition, (seqs, statuses)) in by_partition {
            assert!(seqs.len() >= 2, "{partition}: {seqs:?}");
            let numbered: Vec<u32> = (0..seqs.len() as u32).collect();
            assert_eq!(seqs, numbered, "{partition}: files numbered 0, 1, 2...");
            let n: usize = partition[13..].parse().unwrap();
            let wanted: Vec<i64> = (0..300).filter(|i| (i * 7) % 11 == n as i64).collect();
            assert_eq!(statuses, wanted, "{partition}");
        }
    }
}
