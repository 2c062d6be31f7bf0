#!/usr/bin/env bash
# The core sweep of issue 14, as one script for a lent many-core machine (bench/README.md,
# "On a many-core machine"). It runs from the repository root on that machine, with what it
# needs carried in $DEVICE_DIR (default .device/, which .git/info/exclude must ignore):
#
#   .device/logpush-parquet     our release binary, stripped
#   .device/generate            the example generator (release), stripped
#   .device/*.whl               DuckDB (and optionally Polars) wheels for that machine's Python
#
# It writes its tables and JSON under $OUT (or ./device-out), at most a few small files.
# Scale with SWEEP_ROWS / SWEEP_FILES / SWEEP_CORES / SWEEP_TOOLS / SWEEP_ROUNDS (and
# SWEEP_DATASET_ROWS for the http_requests job); try it here first at a small scale:
#   SWEEP_ROWS=60000 SWEEP_FILES=4 SWEEP_CORES=1,2 SWEEP_DATASET_ROWS=20000 OUT=/tmp/sweep \
#     bench/device_sweep.sh
set -euo pipefail
cd "$(dirname "$0")/.."

DEVICE_DIR=${DEVICE_DIR:-.device}
OUT=${OUT:-device-out}
ROWS=${SWEEP_ROWS:-4800000}          # 4.0 GB of NDJSON
FILES=${SWEEP_FILES:-80}
CORES=${SWEEP_CORES:-1,2,4,8,16}
TOOLS=${SWEEP_TOOLS:-ours,duckdb}
ROUNDS=${SWEEP_ROUNDS:-1}
PART_ROWS=${SWEEP_PARTITION_ROWS:-1200000}
WORK=${SWEEP_WORK:-/tmp/lp-sweep}
PYTHON=${PYTHON:-python3}
mkdir -p "$OUT" "$WORK"
log() { echo "[$(date -u +%H:%M:%S)] $*" | tee -a "$OUT/sweep.log"; }

if compgen -G "$DEVICE_DIR/*.whl" > /dev/null; then
  "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target "$WORK/site" "$DEVICE_DIR"/*.whl
  export PYTHONPATH="$WORK/site${PYTHONPATH:+:$PYTHONPATH}"
fi
{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "cpus: $(nproc) online; $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | xargs)"
  echo "memory: $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
  echo "kernel: $(uname -sr)"
  "$PYTHON" -c 'import duckdb; print("duckdb", duckdb.__version__)' 2>&1 || true
  "$PYTHON" -c 'import polars; print("polars", polars.__version__)' 2>&1 || true
} | tee "$OUT/machine.txt"

compare() { # name, then compare.py arguments
  local name=$1
  shift
  log "$name: compare.py $*"
  "$PYTHON" bench/compare.py --bin "$DEVICE_DIR/logpush-parquet" --python "$PYTHON" \
    --generate-bin "$DEVICE_DIR/generate" --cache-dir "$WORK/cache" --work-dir "$WORK/work" \
    --rounds "$ROUNDS" --tools "$TOOLS" --markdown "$OUT/$name.md" --json "$OUT/$name.json" \
    "$@" 2>&1 | tail -n 60 >> "$OUT/sweep.log"
}

# 1. The date/hour job at all cores and pinned to each core count, and 10,000 partitions.
compare sweep --rows "$ROWS" --files "$FILES" --cores "$CORES" \
  --extra partitions --partitions-rows "$PART_ROWS"
# 2. One large gzip file, all cores, against the single-stream gunzip speed of this machine.
compare one-file --rows "$PART_ROWS" --files 1
gz=$(find "$WORK/cache" -path "*-${PART_ROWS}r-1f-*" -name '*.gz' | head -n 1)
"$PYTHON" - "$gz" <<'PY' | tee -a "$OUT/machine.txt"
import sys, time, zlib
data = open(sys.argv[1], "rb").read()
start = time.perf_counter()
out = zlib.decompressobj(wbits=31).decompress(data)
seconds = time.perf_counter() - start
print(f"single-stream gunzip (zlib {zlib.ZLIB_VERSION}): {len(out) / seconds / 1e6:.0f} MB/s of NDJSON")
PY
# 3. The widest dataset, http_requests (119 fields: lists, maps, JSON), all cores.
log "http_requests: dataset.py"
"$PYTHON" bench/dataset.py --dataset http_requests --rows "${SWEEP_DATASET_ROWS:-1000000}" \
  --files "$FILES" --rounds "$ROUNDS" --tools "$TOOLS" --bin "$DEVICE_DIR/logpush-parquet" \
  --generate "$DEVICE_DIR/generate" --python "$PYTHON" --markdown "$OUT/http_requests.md" \
  2>&1 | tail -n 20 >> "$OUT/sweep.log"
log "done"
