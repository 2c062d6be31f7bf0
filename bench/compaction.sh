#!/bin/bash
# `make bench-compaction`: a day of five-minute Logpush objects (288 gzip files, 24 hour
# partitions), converted one object per run into a Delta table as a scheduled job would, then
# `compact` and `vacuum` with the release build: files before and after, time, peak RSS, and the
# rows read back by deltalake before and after. Prints a Markdown table.
set -eu
cd "$(dirname "$0")/.."
ROOT=$PWD
B=${BIN:-$ROOT/target/release/logpush-parquet}
GEN=${GENERATE:-$ROOT/target/release/examples/generate}
PY=$ROOT/.venv/bin/python
ROWS=${ROWS:-1440000}
WORK=${WORK:-$ROOT/target/bench/compaction}
IN=$ROOT/.cache/compaction-${ROWS}r-288f-24h

[ -d "$IN" ] || "$GEN" --out "$IN" --rows "$ROWS" --files 288 --hours 24 --seed 7 >/dev/null
rm -rf "$WORK" && mkdir -p "$WORK/in" "$WORK/lake"

# One run per object, in time order: 288 commits, a checkpoint every ten.
start=$(date +%s.%N)
for f in $(find "$IN" -name '*.gz' | sort); do
  mkdir -p "$WORK/in/$(basename "$(dirname "$f")")"
  ln -s "$f" "$WORK/in/$(basename "$(dirname "$f")")/$(basename "$f")"
  "$B" convert "$WORK/in" -o "$WORK/lake/t" --table-format delta -q
done
runs_s=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}')

count_files() { find "$WORK/lake/t" -name '*.parquet' -not -path '*/_*' | wc -l; }
bytes_files() { find "$WORK/lake/t" -name '*.parquet' -not -path '*/_*' -printf '%s\n' | awk '{s+=$1} END {print s}'; }
rows_seen() { "$PY" -c "import deltalake,sys; print(deltalake.DeltaTable(sys.argv[1]).to_pyarrow_table().num_rows)" "$WORK/lake/t"; }
measure() { # label, command...: wall seconds and peak RSS (MB) of one command
  local label=$1; shift
  /usr/bin/time -f "%e %M" -o "$WORK/time" "$@" >/dev/null
  read -r secs kb < "$WORK/time"
  echo "$label $secs $((kb / 1024))"
}

files_before=$(count_files); bytes_before=$(bytes_files); rows_before=$(rows_seen)
read -r _ c_s c_mb < <(measure compact "$B" compact "$WORK/lake/t" --min-age 0 -q)
files_active=$("$PY" -c "import deltalake,sys; print(len(deltalake.DeltaTable(sys.argv[1]).file_uris()))" "$WORK/lake/t")
rows_after=$(rows_seen)
read -r _ v_s v_mb < <(measure vacuum "$B" vacuum "$WORK/lake/t" --retain 0 --force -q)
files_after=$(count_files); bytes_after=$(bytes_files)

echo "| step | files | MB | rows read back | time (s) | peak RSS (MB) |"
echo "|---|---:|---:|---:|---:|---:|"
echo "| 288 runs, one object each | $files_before | $((bytes_before / 1000000)) | $rows_before | $runs_s | |"
echo "| compact (target 256 MiB) | $files_active active | | $rows_after | $c_s | $c_mb |"
echo "| vacuum --retain 0 --force | $files_after | $((bytes_after / 1000000)) | | $v_s | $v_mb |"
[ "$rows_before" = "$ROWS" ] && [ "$rows_after" = "$ROWS" ] || { echo "rows differ from $ROWS" >&2; exit 1; }
