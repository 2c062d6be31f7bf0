//! Bundles the field lists: every `schema/*.toml` becomes an entry `(file stem, text)` of the
//! table that `schema::EventSchema::bundled` reads, so adding a dataset is adding its file.

use std::path::Path;

fn main() {
    // Read when the script runs, not baked in when it is compiled: worktrees that share a
    // target folder share the compiled script.
    let manifest = std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR");
    let dir = Path::new(&manifest).join("schema");
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut lists: Vec<(String, String)> = std::fs::read_dir(&dir)
        .expect("the schema/ folder")
        .map(|entry| entry.expect("a schema/ entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "toml"))
        .map(|path| {
            println!("cargo:rerun-if-changed={}", path.display());
            let stem = path.file_stem().expect("a .toml file has a stem");
            let stem = stem.to_string_lossy().into_owned();
            (stem, path.display().to_string())
        })
        .collect();
    lists.sort();
    let mut table = String::from("&[\n");
    for (name, path) in lists {
        table.push_str(&format!("    ({name:?}, include_str!({path:?})),\n"));
    }
    table.push_str("]\n");
    let out = Path::new(&std::env::var("OUT_DIR").expect("OUT_DIR")).join("bundled_schemas.rs");
    std::fs::write(out, table).expect("write the bundled field lists");
}
