#!/bin/bash
# `make bench-storage`: the same conversion (1.2M rows, 1 GB of NDJSON in 20 gzip files, from
# `make bench`'s cache) from and to local disk, s3s-fs and moto on loopback, with the release
# build: wall time, throughput, peak RSS, CPU. Prints a Markdown table.
set -u
cd "$(dirname "$0")/.."
ROOT=$PWD
B=$ROOT/target/release/logpush-parquet
IN=$ROOT/.cache/bench-1200000r-20f-40a-unixnano-4h-s1
PY=$ROOT/.venv/bin/python
[ -d "$IN" ] || { echo "run make bench first (it generates $IN)" >&2; exit 2; }
rm -rf /tmp/s3b && mkdir -p /tmp/s3b/root/logs /tmp/s3b/root/lake
cp -r $IN/* /tmp/s3b/root/logs/
$ROOT/.tools/bin/s3s-fs --host 127.0.0.1 --port 9301 --access-key AK --secret-key SK /tmp/s3b/root > /tmp/s3b/s3s.log 2>&1 &
S3S=$!
$PY -m moto.server -H 127.0.0.1 -p 9302 > /tmp/s3b/moto.log 2>&1 &
MOTO=$!
for _ in $(seq 50); do curl -s -o /dev/null http://127.0.0.1:9302/ && curl -s -o /dev/null http://127.0.0.1:9301/ && break; sleep 0.2; done
export AWS_ACCESS_KEY_ID=AK AWS_SECRET_ACCESS_KEY=SK AWS_REGION=us-east-1 AWS_ALLOW_HTTP=true
# moto: buckets and the input
curl -s -X PUT http://127.0.0.1:9302/logs >/dev/null; curl -s -X PUT http://127.0.0.1:9302/lake >/dev/null
# the input into moto (compression=None: pyarrow would gzip `.gz` names again)
IN=$IN $PY - <<'PY'
import pyarrow.fs as fs, os
s3 = fs.S3FileSystem(endpoint_override="127.0.0.1:9302", scheme="http", access_key="AK", secret_key="SK", region="us-east-1")
base=os.environ["IN"]
for d,_,files in os.walk(base):
    for f in files:
        p=os.path.join(d,f); key="logs/"+os.path.relpath(p,base)
        with open(p,"rb") as src, s3.open_output_stream(key, compression=None) as dst: dst.write(src.read())
PY
run() { # name, env endpoint, input, output
  local name=$1 ep=$2 in=$3 out=$4
  /usr/bin/time -f "%e %M %U %S" -o /tmp/s3b/time env ${ep:+AWS_ENDPOINT_URL=$ep} $B convert "$in" -o "$out" -q --summary-json /tmp/s3b/sum.json
  local rc=$?
  read wall rss user sys < /tmp/s3b/time
  local rows=$($PY -c "import json;print(json.load(open('/tmp/s3b/sum.json'))['rows_written'])")
  printf "| %s | %s | %.2f | %.0f | %.0f | %.2f | %s |\n" "$name" "$rc" "$wall" "$(echo "1000.6/$wall" | bc -l)" "$(echo "$rss/1024" | bc -l)" "$(echo "$user+$sys" | bc -l)" "$rows"
}
echo "| route | exit | wall s | NDJSON MB/s | peak RSS MB | CPU s | rows |"
echo "|---|---:|---:|---:|---:|---:|---:|"
for round in 1 2; do
run "local -> local" "" $IN /tmp/s3b/out-local-$round
run "s3s-fs -> local" http://127.0.0.1:9301 s3://logs/ /tmp/s3b/out-s3l-$round
run "local -> s3s-fs" http://127.0.0.1:9301 $IN s3://lake/r$round
run "s3s-fs -> s3s-fs" http://127.0.0.1:9301 s3://logs/ s3://lake/ss$round
run "moto -> moto" http://127.0.0.1:9302 s3://logs/ s3://lake/mm$round
done
kill $S3S $MOTO
