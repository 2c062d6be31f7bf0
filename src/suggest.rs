//! `logpush-parquet schema --suggest INPUT...`: reads the first lines of some inputs and prints
//! the field list with a field for each key it does not know ([`crate::schema::suggest`] types
//! them), ready for `--schema`.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use crate::decode::lines::{Line, LineReader};
use crate::error::{Error, Result};
use crate::input;
use crate::schema::EventSchema;
use crate::schema::suggest::Suggestion;
use crate::storage::{Storage, StorageOptions};

/// What `--suggest` reads.
#[derive(Debug, Clone)]
pub struct SuggestOptions {
    /// Input arguments, as `convert` takes them.
    pub inputs: Vec<String>,
    /// The field list to extend.
    pub schema: Arc<EventSchema>,
    /// The field list's TOML text, which the suggestion starts with.
    pub schema_text: String,
    /// Lines read at most, over all inputs.
    pub max_lines: u64,
    /// Longest line read (longer ones are skipped).
    pub max_line_bytes: usize,
    /// Object store settings.
    pub storage: StorageOptions,
}

/// The suggested field list, and a line for stderr saying what was read.
pub fn suggest(options: &SuggestOptions) -> Result<(String, String)> {
    let storage = Storage::new(options.storage.clone())?;
    let listed = input::expand(&options.inputs, &storage)?;
    let mut suggestion = Suggestion::default();
    let mut inputs_read = 0;
    for input in &listed.inputs {
        if suggestion.lines + suggestion.not_objects >= options.max_lines {
            break;
        }
        let name = input.source.display_name();
        let reader =
            input::open(input, Arc::new(AtomicU64::new(0))).map_err(|e| Error::InputRead {
                path: name.clone(),
                line: 0,
                source: e,
            })?;
        inputs_read += 1;
        let mut reader = LineReader::new(reader, options.max_line_bytes);
        while suggestion.lines + suggestion.not_objects < options.max_lines {
            let line_no = reader.line_no();
            let line = match reader.next_line() {
                Ok(line) => line,
                Err(e) => {
                    return Err(Error::InputRead {
                        path: name,
                        line: line_no,
                        source: e,
                    });
                }
            };
            match line {
                None => break,
                Some((_, Line::Complete(bytes))) if bytes.iter().all(u8::is_ascii_whitespace) => {}
                Some((_, Line::Complete(bytes))) => suggestion.add_line(&options.schema, bytes),
                Some((_, Line::TooLong { .. })) => suggestion.not_objects += 1,
            }
        }
    }
    let text = suggestion.render(&options.schema, &options.schema_text, inputs_read);
    let note = format!(
        "{} line{} of {inputs_read} input{} read: {} key{} not in {}{}\n",
        suggestion.lines,
        if suggestion.lines == 1 { "" } else { "s" },
        if inputs_read == 1 { "" } else { "s" },
        suggestion.keys(),
        if suggestion.keys() == 1 { "" } else { "s" },
        options.schema.dataset(),
        match suggestion.not_objects {
            0 => String::new(),
            n => format!(" ({n} lines that are not JSON objects skipped)"),
        },
    );
    Ok((text, note))
}
