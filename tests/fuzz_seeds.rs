//! The fuzz targets' checks (`fuzz/checks/`), run as ordinary tests over every seed in
//! `fuzz/seeds/<target>/` and every input a local `make fuzz` saved in `fuzz/corpus/<target>/`.
//! libFuzzer itself runs only under `make fuzz`; this keeps what it found, and the oracles,
//! in every `make test` without building the fuzzing toolchain.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

#[path = "../fuzz/checks/decode_line.rs"]
mod decode_line;
#[path = "../fuzz/checks/lines.rs"]
mod lines;
#[path = "../fuzz/checks/timestamp.rs"]
mod timestamp;

/// Runs `check` over every file of the target's seed and corpus folders; fails naming each input
/// whose check panicked. Returns how many inputs ran.
fn replay(target: &str, check: fn(&[u8])) -> usize {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut inputs = Vec::new();
    for folder in ["seeds", "corpus"] {
        let Ok(entries) = std::fs::read_dir(root.join(folder).join(target)) else {
            continue; // the corpus exists only where `make fuzz` ran
        };
        for entry in entries {
            let path = entry.expect("a readable folder entry").path();
            if path.is_file() {
                inputs.push(path);
            }
        }
    }
    inputs.sort();
    let failed: Vec<String> = inputs
        .iter()
        .filter(|path| {
            let data = std::fs::read(path).expect("a readable fuzz input");
            catch_unwind(AssertUnwindSafe(|| check(&data))).is_err()
        })
        .map(|path| path.display().to_string())
        .collect();
    assert!(failed.is_empty(), "{target}: the check fails on {failed:?}");
    inputs.len()
}

#[test]
fn decode_line_seeds_pass_the_oracle() {
    assert!(
        replay("decode_line", decode_line::check) > 0,
        "no seeds found"
    );
}

#[test]
fn lines_seeds_pass_the_reference() {
    assert!(replay("lines", lines::check) > 0, "no seeds found");
}

#[test]
fn timestamp_seeds_pass_the_oracles() {
    assert!(replay("timestamp", timestamp::check) > 0, "no seeds found");
}
