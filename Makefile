# logpush-parquet: `make run` shows it working on the bundled sample, `make test` runs everything.
# Every tool the tests need (the Python readers, a Java runtime for Spark) is installed here.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
CARGO ?= cargo
PYTHON ?= python3
VENV := .venv
BIN_DEBUG := target/debug/logpush-parquet
BIN_RELEASE := target/release/logpush-parquet
GENERATE_DEBUG := target/debug/examples/generate
TOOLS := .tools
S3S_FS := $(TOOLS)/bin/s3s-fs
# The storage suites (tests/storage): local disk, s3s-fs, moto, Azurite and two GCS emulators; kills, concurrency,
# Delta, examples. `-rsx`: the reason of every skip and expected failure is printed.
VENV_DUCKDB_DELTA := .venv-duckdb-delta
STORAGE_TESTS = LOGPUSH_PARQUET_BIN=$(BIN_DEBUG) LOGPUSH_GENERATE_BIN=$(GENERATE_DEBUG) S3S_FS_BIN=$(S3S_FS) AZURITE_BIN=$(AZURITE) \
	DUCKDB_DELTA_PYTHON=$(VENV_DUCKDB_DELTA)/bin/python $(VENV)/bin/python -m pytest -q -o verbosity_assertions=2 -rsx tests/storage
# The Iceberg suite (tests/iceberg): a SeaweedFS Iceberg REST catalog; pyiceberg, DuckDB 1.5.5 and
# Spark read the tables. Virtual environments of its own (the catalog server is in the first).
VENV_ICEBERG := .venv-iceberg
VENV_ICEBERG_SPARK := .venv-iceberg-spark
ICEBERG_TESTS = LOGPUSH_PARQUET_BIN=$(BIN_DEBUG) LOGPUSH_GENERATE_BIN=$(GENERATE_DEBUG) \
	ICEBERG_SPARK_PYTHON=$(VENV_ICEBERG_SPARK)/bin/python $(VENV_ICEBERG)/bin/python -m pytest -q -o verbosity_assertions=2 -rs tests/iceberg

.DEFAULT_GOAL := help

.PHONY: help
help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-13s %s\n", $$1, $$2}'

.PHONY: run
run: ## Build (a quick debug build), convert the sample archive in examples/data into ./out, print summary and partitions
	$(CARGO) build --quiet --bin logpush-parquet
	$(BIN_DEBUG) convert examples/data --output out --summary-json out/_summary.json
	@echo "partitions written:"
	@find out -name '*.parquet' -printf '  %P  (%s bytes)\n' | sort

.PHONY: test
test: venv java tools iceberg-venvs ## The whole suite (what CI runs): lints, Rust tests (fuzz seeds replayed), interop, storage (S3 servers, kills), Iceberg
	$(CARGO) fmt --all -- --check
	$(CARGO) fmt --manifest-path fuzz/Cargo.toml -- --check
	$(CARGO) clippy --all-targets --quiet -- -D warnings
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --no-deps --quiet
	$(CARGO) build --quiet --bin logpush-parquet --example generate
	$(CARGO) test --all-targets
	$(CARGO) test --doc
	LOGPUSH_PARQUET_BIN=$(BIN_DEBUG) LOGPUSH_GENERATE_BIN=$(GENERATE_DEBUG) $(VENV)/bin/python -m pytest -q -o verbosity_assertions=2 tests/interop
	$(STORAGE_TESTS)
	$(ICEBERG_TESTS)

# Fuzzing: cargo-fuzz (libFuzzer) over the targets in fuzz/. cargo-fuzz needs nightly flags; the
# stable toolchain accepts them with RUSTC_BOOTSTRAP=1. No sanitizer by default: the crate
# forbids unsafe code, and without ASan the targets build faster and run several times faster.
FUZZ_TARGETS := decode_line lines timestamp
FUZZ_SECONDS ?= 300
FUZZ_SANITIZER ?= none
CARGO_FUZZ := $(TOOLS)/bin/cargo-fuzz
CARGO_FUZZ_VERSION := 0.13.2

.PHONY: fuzz
fuzz: $(CARGO_FUZZ) ## Fuzz each target for FUZZ_SECONDS (default 300); new inputs go to fuzz/corpus/, crashes to fuzz/artifacts/
	@mkdir -p fuzz/target
	@for target in $(FUZZ_TARGETS); do \
	  log=fuzz/target/fuzz-$$target.log; \
	  echo "fuzzing $$target for $(FUZZ_SECONDS) s (log: $$log)"; \
	  mkdir -p fuzz/corpus/$$target; \
	  (cd fuzz && RUSTC_BOOTSTRAP=1 ../$(CARGO_FUZZ) run --sanitizer $(FUZZ_SANITIZER) $$target \
	    corpus/$$target seeds/$$target -- -max_total_time=$(FUZZ_SECONDS) \
	    $$(test -f fuzz/$$target.dict && echo -dict=$$target.dict) \
	    -print_final_stats=1) > $$log 2>&1 \
	    || { tail -n 60 $$log; echo "fuzz target $$target failed: the input is in fuzz/artifacts/$$target/"; exit 1; }; \
	  grep -E '^#[0-9]+.*DONE|^Done ' $$log; \
	done

$(CARGO_FUZZ):
	$(CARGO) install cargo-fuzz --version $(CARGO_FUZZ_VERSION) --locked --root $(TOOLS) --quiet

.PHONY: test-storage
test-storage: venv java tools ## Only the storage suites (S3 servers, kills, concurrency, secrets, examples)
	$(CARGO) build --quiet --bin logpush-parquet --example generate
	$(STORAGE_TESTS)

.PHONY: test-iceberg
test-iceberg: java iceberg-venvs ## Only the Iceberg suite (a SeaweedFS REST catalog; pyiceberg, DuckDB, Spark; kills, shards)
	$(CARGO) build --quiet --bin logpush-parquet --example generate
	$(ICEBERG_TESTS)

.PHONY: check
check: ## The fast tier for day-to-day work: formatting, lints, docs, unit and CLI tests (no Python suites)
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets --quiet -- -D warnings
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --no-deps --quiet
	$(CARGO) test --lib --bins --test cli --test corpus --test fuzz_seeds
	$(CARGO) test --doc

BENCH_ARGS ?=
BENCH_OUT ?= target/bench

.PHONY: bench
bench: venv $(VENV)/.bench-installed ## Benchmark against DuckDB and Polars on ~1 GB of generated NDJSON (BENCH_ARGS="--rounds 5 --extra --cores 1,2,4")
	$(CARGO) build --release --quiet
	$(VENV)/bin/python bench/compare.py --bin $(BIN_RELEASE) --cargo "$(CARGO)" \
	  --markdown $(BENCH_OUT)/latest.md --json $(BENCH_OUT)/latest.json $(BENCH_ARGS)
	$(CARGO) bench --bench pipeline

# Polars, for the benchmark only (bench/requirements.txt).
$(VENV)/.bench-installed: bench/requirements.txt $(VENV)/.installed
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r bench/requirements.txt
	touch $@

.PHONY: bench-storage
bench-storage: venv tools ## The bench conversion from and to local disk, s3s-fs and moto (after make bench)
	$(CARGO) build --release --quiet
	bench/storage.sh

.PHONY: bench-dataset
bench-dataset: venv $(VENV)/.bench-installed ## One bundled dataset (DATASET, default http_requests) against DuckDB and Polars with declared columns (BENCH_ARGS="--rows 200000 --rounds 3")
	$(CARGO) build --release --quiet --bin logpush-parquet --example generate
	$(VENV)/bin/python bench/dataset.py --dataset $(or $(DATASET),http_requests) $(BENCH_ARGS)

.PHONY: bench-iceberg
bench-iceberg: $(VENV_ICEBERG)/.installed ## An Iceberg run against a plain run of the same inputs, into SeaweedFS on loopback (BENCH_ARGS="--rounds 5 --rows 600000")
	$(CARGO) build --release --quiet --bin logpush-parquet --example generate
	$(VENV_ICEBERG)/bin/python bench/iceberg.py $(BENCH_ARGS)

.PHONY: bench-compaction
bench-compaction: venv ## A day of five-minute runs into a Delta table, then compact and vacuum: files, time, peak memory
	$(CARGO) build --release --quiet --bin logpush-parquet --example generate
	bench/compaction.sh

.PHONY: venv
venv: $(VENV)/.installed ## Install the Python readers used by the interop tests into .venv

$(VENV)/.installed: tests/interop/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r tests/interop/requirements.txt
	touch $@

$(VENV_DUCKDB_DELTA)/.installed: tests/storage/requirements-duckdb-delta.txt
	$(PYTHON) -m venv $(VENV_DUCKDB_DELTA)
	$(VENV_DUCKDB_DELTA)/bin/pip install --quiet --disable-pip-version-check -r tests/storage/requirements-duckdb-delta.txt
	touch $@

.PHONY: iceberg-venvs
iceberg-venvs: $(VENV_ICEBERG)/.installed $(VENV_ICEBERG_SPARK)/.installed ## The Iceberg suite's virtual environments: .venv-iceberg (SeaweedFS, pyiceberg, DuckDB), .venv-iceberg-spark

$(VENV_ICEBERG)/.installed: tests/iceberg/requirements.txt
	$(PYTHON) -m venv $(VENV_ICEBERG)
	$(VENV_ICEBERG)/bin/pip install --quiet --disable-pip-version-check -r tests/iceberg/requirements.txt
	touch $@

$(VENV_ICEBERG_SPARK)/.installed: tests/iceberg/requirements-spark.txt
	$(PYTHON) -m venv $(VENV_ICEBERG_SPARK)
	$(VENV_ICEBERG_SPARK)/bin/pip install --quiet --disable-pip-version-check -r tests/iceberg/requirements-spark.txt
	touch $@

.PHONY: tools
AZURITE := $(TOOLS)/azurite/node_modules/.bin/azurite-blob
AZURITE_VERSION := 3.37.0

tools: $(S3S_FS) $(AZURITE) $(VENV)/.storage-installed $(VENV_DUCKDB_DELTA)/.installed ## Install the servers the storage tests start: s3s-fs and Azurite into .tools, moto, fake-gcs-server and gcp-storage-emulator into .venv

# Azurite, the Azure Storage emulator (npm), for the az:// tests; Debian's Node.js if npm is not there.
$(AZURITE):
	@command -v npm >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm; }
	npm install --prefix $(TOOLS)/azurite --no-audit --no-fund --silent azurite@$(AZURITE_VERSION)

# s3s-fs 0.14.1: later versions need a newer rustc than ours (see shared/reference/INTEROP.md).
$(S3S_FS):
	$(CARGO) install s3s-fs --version 0.14.1 --features binary --locked --quiet --root $(TOOLS)

$(VENV)/.storage-installed: tests/storage/requirements.txt $(VENV)/.installed
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r tests/storage/requirements.txt
	touch $@

.PHONY: java
java: ## Make sure a Java runtime is there for Spark (installs Debian's OpenJDK 17 if not)
	@command -v java >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends openjdk-17-jre-headless; }

.PHONY: clean
clean: ## Remove build output, the sample output, the virtual environment and the fuzzing tools
	$(CARGO) clean
	rm -rf out $(VENV) $(VENV_DUCKDB_DELTA) $(VENV_ICEBERG) $(VENV_ICEBERG_SPARK) $(TOOLS) fuzz/target
