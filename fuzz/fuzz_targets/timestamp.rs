//! libFuzzer entry point; the check itself is in `fuzz/checks/timestamp.rs`, which `make test` also
//! runs over the seeds and the saved corpus (tests/fuzz_seeds.rs).

#![no_main]

#[path = "../checks/timestamp.rs"]
mod check;

libfuzzer_sys::fuzz_target!(|data: &[u8]| check::check(data));
