//! Table maintenance: `compact` merges a Delta table's small files, `vacuum` deletes the files
//! no version within the retention period needs.

pub mod compact;
pub mod vacuum;
