//! Whether a column chunk gets a dictionary, decided from the first rows of its row group.
//!
//! parquet-rs gives every column a dictionary unless told otherwise, and falls back to plain
//! values only once the dictionary has grown past its limit. A column of mostly distinct values
//! (a ratio, a list of sizes, a JSON text, milliseconds) pays for that: the chunk holds a
//! dictionary of nearly every value plus an index per value, and the indices compress worse
//! than the values would. DuckDB decides per row group from what the dictionary would save; so
//! do we, from the values of the row group's first segment (up to [`SAMPLE_VALUES`] of each
//! leaf): the dictionary is kept where the distinct values plus the indices take at most half
//! the bytes of the plain values ([`DICTIONARY_SAVING`]), and wherever there are too few values
//! to tell ([`MIN_SAMPLE_VALUES`]).
//!
//! Columns the field list encodes (plain, delta), enumerated strings (Arrow dictionaries: always
//! a Parquet dictionary) and booleans are not decided here. The decision depends only on the
//! row group's rows, so a file's bytes still depend only on its rows.

use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef, downcast_primitive_array};
use arrow_schema::DataType;
use rustc_hash::FxHashSet;

/// Most values of a leaf looked at (a segment's rows, for a flat column).
const SAMPLE_VALUES: usize = 2048;

/// Fewest values a decision is taken on: with fewer (a small partition's file), the column
/// keeps its dictionary, and its row group needs no second set of writers.
const MIN_SAMPLE_VALUES: usize = 256;

/// How many times smaller than the plain values a dictionary and its indices must be (before
/// compression) to be kept. zstd shrinks repeated plain values too, so a dictionary that saves
/// little before compression loses after it. On 200,000 generated `http_requests` lines the
/// column data took 35.53 MB at 1 and 34.67 MB at 2 (35.70 MB with a dictionary everywhere); at 3
/// (tried with longer pages for plain columns, which gave 35.31 and 34.69 MB at 1 and 2) 36.61
/// MB: strings with a few hundred distinct values in a segment (referers, paths) lost theirs.
const DICTIONARY_SAVING: usize = 2;

/// The arrays of `column`'s Parquet leaf columns, in the order Parquet numbers its leaves (a
/// list's items, a map's keys then values, a struct's fields in order).
pub fn leaf_arrays(column: &ArrayRef, out: &mut Vec<ArrayRef>) {
    match column.data_type() {
        DataType::List(_) => leaf_arrays(column.as_list::<i32>().values(), out),
        DataType::LargeList(_) => leaf_arrays(column.as_list::<i64>().values(), out),
        DataType::Map(_, _) => {
            let map = column.as_map();
            leaf_arrays(map.keys(), out);
            leaf_arrays(map.values(), out);
        }
        DataType::Struct(_) => {
            for child in column.as_struct().columns() {
                leaf_arrays(child, out);
            }
        }
        _ => out.push(column.clone()),
    }
}

/// Whether a dictionary pays for a leaf whose first values are in `parts` (in order): the
/// distinct values and the indices into them take at most 1/[`DICTIONARY_SAVING`] of the bytes
/// of the values plain. Leaves with fewer than [`MIN_SAMPLE_VALUES`] values, and types whose
/// values this does not look at (booleans, Arrow dictionaries), keep their dictionary.
pub fn pays(parts: &[ArrayRef]) -> bool {
    let mut sample = Sample::default();
    for part in parts {
        if !sample.add(part.as_ref()) {
            return true;
        }
        if sample.count >= SAMPLE_VALUES {
            break;
        }
    }
    sample.count < MIN_SAMPLE_VALUES
        || (sample.dictionary + sample.indices()) * DICTIONARY_SAVING <= sample.plain
}

/// Plain and dictionary sizes of the values seen so far.
#[derive(Default)]
struct Sample<'a> {
    distinct: FxHashSet<&'a [u8]>,
    count: usize,
    plain: usize,
    dictionary: usize,
}

impl<'a> Sample<'a> {
    /// Adds the valid values of `leaf` until [`SAMPLE_VALUES`]; false for a type not looked at.
    fn add(&mut self, leaf: &'a dyn Array) -> bool {
        let valid = (0..leaf.len()).filter(|&i| leaf.is_valid(i));
        match leaf.data_type() {
            // Byte arrays are written with a 4-byte length before each value.
            DataType::Utf8 => {
                let strings = leaf.as_string::<i32>();
                self.extend(valid.map(|i| strings.value(i).as_bytes()), 4);
            }
            DataType::LargeUtf8 => {
                let strings = leaf.as_string::<i64>();
                self.extend(valid.map(|i| strings.value(i).as_bytes()), 4);
            }
            DataType::Utf8View => {
                let strings = leaf.as_string_view();
                self.extend(valid.map(|i| strings.value(i).as_bytes()), 4);
            }
            DataType::Binary => {
                let bytes = leaf.as_binary::<i32>();
                self.extend(valid.map(|i| bytes.value(i)), 4);
            }
            _ => {
                return downcast_primitive_array!(
                    leaf => {
                        let bytes = leaf.values().inner().as_slice();
                        let width = bytes.len() / leaf.len().max(1);
                        self.extend(valid.map(|i| &bytes[i * width..(i + 1) * width]), 0);
                        true
                    }
                    _ => false
                );
            }
        }
        true
    }

    fn extend(&mut self, values: impl Iterator<Item = &'a [u8]>, prefix: usize) {
        for value in values.take(SAMPLE_VALUES.saturating_sub(self.count)) {
            self.count += 1;
            self.plain += value.len() + prefix;
            if self.distinct.insert(value) {
                self.dictionary += value.len() + prefix;
            }
        }
    }

    /// Bytes of the indices, bit-packed at the width the distinct values need.
    fn indices(&self) -> usize {
        let bits = usize::BITS - self.distinct.len().saturating_sub(1).leading_zeros();
        (self.count * bits as usize).div_ceil(8)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::builder::{ListBuilder, MapBuilder, StringBuilder};
    use arrow_array::types::Int16Type;
    use arrow_array::{
        BooleanArray, DictionaryArray, Float64Array, Int64Array, StringArray, StringViewArray,
    };

    use super::*;

    fn one(array: impl Array + 'static) -> Vec<ArrayRef> {
        vec![Arc::new(array)]
    }

    #[test]
    fn repeated_values_keep_the_dictionary_and_distinct_values_lose_it() {
        let repeated = || (0..1000).map(|i| format!("https://example.com/{}", i % 40));
        let distinct = || (0..1000).map(|i| format!("https://example.com/{i}"));
        assert!(pays(&one(StringArray::from_iter_values(repeated()))));
        assert!(!pays(&one(StringArray::from_iter_values(distinct()))));
        assert!(pays(&one(StringViewArray::from_iter_values(repeated()))));
        assert!(!pays(&one(StringViewArray::from_iter_values(distinct()))));
        assert!(pays(&one(Int64Array::from_iter_values(
            (0..1000).map(|i| i % 7)
        ))));
        assert!(!pays(&one(Int64Array::from_iter_values(
            (0..1000).map(|i| i * 7919)
        ))));
        assert!(!pays(&one(Float64Array::from_iter_values(
            (0..1000).map(|i| f64::from(i) / 7.0)
        ))));
    }

    #[test]
    fn the_dictionary_must_halve_the_plain_bytes() {
        // 256 8-byte integers, 2,048 bytes plain. 100 distinct take 800 bytes and 256 seven-bit
        // indices 224: 1,024, half (kept). 101 distinct take 808 + 224, more than half
        // (dropped).
        let ints =
            |distinct: i64| one(Int64Array::from_iter_values((0..256).map(|i| i % distinct)));
        assert!(pays(&ints(100)));
        assert!(!pays(&ints(101)));
    }

    #[test]
    fn too_few_values_keep_the_dictionary() {
        let distinct = |n: usize| one(StringArray::from_iter_values((0..n).map(|i| i.to_string())));
        assert!(pays(&distinct(MIN_SAMPLE_VALUES - 1)));
        assert!(!pays(&distinct(MIN_SAMPLE_VALUES)));
    }

    #[test]
    fn nulls_are_not_counted_and_a_leaf_without_values_keeps_its_dictionary() {
        let mostly_null = (0..100_000).map(|i| (i % 100 == 0).then(|| format!("value {i}")));
        assert!(!pays(&one(StringArray::from_iter(mostly_null))));
        let too_few = (0..1000).map(|i| (i % 100 == 0).then(|| format!("value {i}")));
        assert!(pays(&one(StringArray::from_iter(too_few))));
        assert!(pays(&one(StringArray::from(vec![None::<&str>; 100]))));
        assert!(pays(&[]));
    }

    #[test]
    fn booleans_and_arrow_dictionaries_keep_their_dictionary() {
        let values: Vec<String> = (0..1000).map(|i| format!("value {i}")).collect();
        let enums: DictionaryArray<Int16Type> = values.iter().map(String::as_str).collect();
        assert!(pays(&one(enums)));
        assert!(pays(&one(BooleanArray::from_iter(
            (0..1000).map(|i| Some(i % 2 == 0))
        ))));
    }

    #[test]
    fn only_the_first_values_are_looked_at_over_the_parts_in_order() {
        let repeated: ArrayRef = Arc::new(StringArray::from_iter_values(
            (0..SAMPLE_VALUES).map(|i| format!("value {}", i % 10)),
        ));
        let distinct: ArrayRef = Arc::new(StringArray::from_iter_values(
            (0..10 * SAMPLE_VALUES).map(|i| format!("value {i}")),
        ));
        assert!(pays(&[repeated.clone(), distinct.clone()]));
        assert!(!pays(&[distinct, repeated]));
    }

    #[test]
    fn leaves_come_in_parquet_order() {
        let mut list = ListBuilder::new(StringBuilder::new());
        list.values().append_value("item");
        list.append(true);
        let mut map = MapBuilder::new(None, StringBuilder::new(), StringBuilder::new());
        map.keys().append_value("key");
        map.values().append_value("value");
        map.append(true).unwrap();
        let mut leaves = Vec::new();
        leaf_arrays(&(Arc::new(list.finish()) as ArrayRef), &mut leaves);
        leaf_arrays(&(Arc::new(map.finish()) as ArrayRef), &mut leaves);
        let texts: Vec<&str> = leaves
            .iter()
            .map(|l| l.as_string::<i32>().value(0))
            .collect();
        assert_eq!(texts, ["item", "key", "value"]);
    }
}
