//! Micro-benchmarks of the pipeline's stages, in bytes of NDJSON per second: gunzip, line
//! decoding into Arrow, and Parquet encoding of the decoded batches.
//!
//! Input: the bundled sample archive (`examples/data`), decompressed and repeated to ~16 MB.

use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use logpush_parquet::decode::{DecodeOptions, Decoder};
use logpush_parquet::schema::EventSchema;
use logpush_parquet::write::ParquetOptions;

/// Valid lines of the sample archive, repeated to about `target` bytes.
fn sample_ndjson(target: usize) -> Vec<u8> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/data");
    let mut one = Vec::new();
    for entry in walkdir::WalkDir::new(root).sort_by_file_name() {
        let entry = entry.expect("walk examples/data");
        if entry.path().extension().is_some_and(|e| e == "gz") {
            let mut text = Vec::new();
            flate2::read::MultiGzDecoder::new(std::fs::File::open(entry.path()).expect("open"))
                .read_to_end(&mut text)
                .expect("gunzip");
            one.extend(text);
        }
    }
    let valid: Vec<&[u8]> = one
        .split(|&b| b == b'\n')
        .filter(|l| l.starts_with(b"{\"Application\":\"") && l.len() > 500)
        .collect();
    let mut out = Vec::with_capacity(target + 4096);
    while out.len() < target {
        for line in &valid {
            out.extend_from_slice(line);
            out.push(b'\n');
        }
    }
    out
}

fn decode_all(ndjson: &[u8]) -> Vec<arrow_array::RecordBatch> {
    let schema = Arc::new(EventSchema::spectrum_events());
    let mut decoder = Decoder::try_new(schema, DecodeOptions::default()).expect("decoder");
    let mut batches = Vec::new();
    let mut start = 0;
    for end in memchr::memchr_iter(b'\n', ndjson) {
        let line = &ndjson[start..end];
        start = end + 1;
        if decoder.is_full() {
            batches.extend(decoder.flush().expect("flush"));
        }
        decoder.decode_line(line).expect("valid line");
    }
    batches.extend(decoder.flush().expect("flush"));
    batches
}

fn stages(c: &mut Criterion) {
    let ndjson = sample_ndjson(16 << 20);
    let mut group = c.benchmark_group("stages");
    group.throughput(Throughput::Bytes(ndjson.len() as u64));
    group.sample_size(10);

    let gz = {
        use std::io::Write;
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
        e.write_all(&ndjson).expect("gzip");
        e.finish().expect("gzip")
    };
    group.bench_function("gunzip_flate2_zlib_rs", |b| {
        b.iter(|| {
            let mut out = Vec::with_capacity(ndjson.len());
            flate2::read::MultiGzDecoder::new(&gz[..])
                .read_to_end(&mut out)
                .expect("gunzip");
            out
        })
    });

    group.bench_function("decode", |b| b.iter(|| decode_all(&ndjson)));

    let batches = decode_all(&ndjson);
    let schema = batches[0].schema();
    let properties = ParquetOptions::default()
        .writer_properties(&EventSchema::spectrum_events(), Vec::new())
        .expect("properties");
    group.bench_function("parquet_encode_zstd", |b| {
        b.iter(|| {
            let mut writer = parquet::arrow::ArrowWriter::try_new(
                Vec::with_capacity(8 << 20),
                schema.clone(),
                Some(properties.clone()),
            )
            .expect("writer");
            for batch in &batches {
                writer.write(batch).expect("write");
            }
            writer.into_inner().expect("close").len()
        })
    });
    group.finish();
}

criterion_group!(benches, stages);
criterion_main!(benches);
