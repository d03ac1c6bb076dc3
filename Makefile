# regrade: the two set-up commands are `make demo` and `make test`.
CARGO ?= cargo
DEMO_DIR ?= demo-out
BIN := target/debug/regrade

.PHONY: all build test lint fmt demo bench clean

all: build

build:
	$(CARGO) build --bins

## test: formatting, lints (warnings are errors) and the whole suite, on a debug build, then the
## documentation examples (src/lib.rs grades a learner with the pure core).
test:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets -- -D warnings
	$(CARGO) test --all-targets
	$(CARGO) test --doc

lint:
	$(CARGO) clippy --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

## demo: build, generate a sample dataset on the local filesystem, check it, run a full
## regrade with the embedded default job, write its impact report, and say where everything is.
demo: build
	rm -rf $(DEMO_DIR)
	$(BIN) generate $(DEMO_DIR)/input --seed 1 --courses 3 --learners 200 --problems-per-course 24
	$(BIN) check $(DEMO_DIR)/input
	$(BIN) run jobs/full-recompute.toml --input $(DEMO_DIR)/input --output $(DEMO_DIR)/runs/full-recompute
	$(BIN) report $(DEMO_DIR)/runs/full-recompute --output $(DEMO_DIR)/report -q
	@echo
	@echo "Sample input dataset:  $(CURDIR)/$(DEMO_DIR)/input"
	@echo "Regrade outputs:       $(CURDIR)/$(DEMO_DIR)/runs/full-recompute"
	@echo "  course grades:       $(DEMO_DIR)/runs/full-recompute/course_grades/   (Hive-partitioned Parquet)"
	@echo "  subsection grades:   $(DEMO_DIR)/runs/full-recompute/subsection_grades/"
	@echo "  diffs:               $(DEMO_DIR)/runs/full-recompute/diffs/"
	@echo "  edX CSV reports:     $(DEMO_DIR)/runs/full-recompute/reports/"
	@echo "  manifest:            $(DEMO_DIR)/runs/full-recompute/manifest.json"
	@echo "Impact report:         $(CURDIR)/$(DEMO_DIR)/report/index.html   (numbers: $(DEMO_DIR)/report/impact.parquet)"
	@echo "Try: duckdb -c \"SELECT course_id, count(*), avg(percent_grade) FROM '$(DEMO_DIR)/runs/full-recompute/course_grades/**/*.parquet' GROUP BY 1\""
	@echo "Other jobs: $(BIN) run jobs/only-if-higher.toml | jobs/what-if-policy.toml | jobs/grade-report.toml | jobs/apply-policy.toml (apply/: the changed rows for edX's MySQL)"
	@echo "Compare a what-if policy with the current one: $(BIN) run jobs/what-if-policy.toml && $(BIN) report $(DEMO_DIR)/runs/what-if-policy --baseline $(DEMO_DIR)/runs/full-recompute --output $(DEMO_DIR)/report-what-if"
	@echo "Backfill missing grade rows (read as zero since Olive): $(BIN) backfill jobs/backfill.toml (readiness.csv, backfill/)"

## bench: timing targets live here, never in unit tests (issue 6). Criterion benches of the
## grading kernels, then benches/e2e.py: on one generated dataset (SCALE studentmodule rows,
## default 20M), the read floor (`regrade scan`), `regrade run` at 1 and 2 threads and the
## DuckDB equivalent (benches/duckdb_equivalent.py; duckdb installed from PyPI if missing),
## with rows/s, peak RSS, the ratios and each target's PASS/MISS; then benches/import_mysql.py
## (bench-import). See benches/README.md.
SCALE ?= 20M
bench:
	$(CARGO) build --release --bins
	$(CARGO) bench --bench grading
	SCALE=$(SCALE) python3 benches/e2e.py
	SCALE=$(SCALE) python3 benches/import_mysql.py

## bench-import: `regrade import mysql` on the same dataset loaded into a private MariaDB in
## edX's layout, at 1 and 2 threads, beside `mysqldump --tab` of the same tables.
.PHONY: bench-import
bench-import:
	$(CARGO) build --release --bins
	SCALE=$(SCALE) python3 benches/import_mysql.py

## bench-e2e: the end-to-end part only (no criterion).
.PHONY: bench-e2e
bench-e2e:
	$(CARGO) build --release --bins
	SCALE=$(SCALE) python3 benches/e2e.py

## bench-apply: writing and loading the apply files of the bench dataset (SCALE, default 20M):
## regrade run without and with --outputs apply, then load_data.sql and apply.sql timed on a
## private MariaDB holding the dataset's persisted rows (benches/apply_load.py; needs
## mariadb-server and the duckdb Python package).
.PHONY: bench-apply
bench-apply:
	$(CARGO) build --release --bins
	SCALE=$(SCALE) python3 benches/apply_load.py

## spark-check: Spark reads every output table of a run and a backfill (pyspark and a Java
## runtime; too heavy for CI, so by hand). Installs pyspark if missing.
.PHONY: spark-check
SPARK_DIR ?= target/spark-check
spark-check: build
	python3 -c "import pyspark" 2>/dev/null || python3 -m pip install --quiet pyspark
	rm -rf $(SPARK_DIR)
	$(BIN) generate $(SPARK_DIR)/input --seed 2 --courses 3 --learners 200 -q
	$(BIN) run --input $(SPARK_DIR)/input --output $(SPARK_DIR)/run -q
	$(BIN) backfill --input $(SPARK_DIR)/input --output $(SPARK_DIR)/backfill -q
	python3 tests/readers/spark_check.py $(SPARK_DIR)/run $(SPARK_DIR)/backfill

## test-slurm: a sharded run on a real Slurm cluster (tests/slurm/run.sh; not part of `test`):
## installs slurm-wlm and munge with apt-get if missing, starts a private single-node cluster
## (munged, slurmctld, slurmd as root, in a temporary folder, stopped at exit), runs a trivial
## array job, then jobs/shards/slurm/submit.sh with 3 shards and finalize, and compares the
## output with a single run's, byte for byte but manifest.json. Needs root: without it (or
## without a way to install Slurm) it prints SKIP and succeeds, unless REGRADE_REQUIRE_SLURM=1.
## Uses the debug binary `make test` builds (the dataset is small); .ci/run calls it after `test`.
.PHONY: test-slurm
test-slurm:
	$(CARGO) build --bins
	REGRADE=$(CURDIR)/target/debug/regrade bash tests/slurm/run.sh

## check-jobs: validates the Kubernetes manifests of sharded runs (jobs/shards/kubernetes)
## offline against the Kubernetes API schema, strict, for K8S_VERSIONS (default 1.29.0 1.33.0),
## and checks them against each other (shards count, memory headroom). Installs
## kubernetes-validate into target/check-jobs-venv if missing. Not part of `make test`.
.PHONY: check-jobs
check-jobs:
	jobs/shards/check.sh

## check-airflow: imports the Airflow DAG of sharded runs (jobs/shards/airflow) with Airflow's
## DagBag and checks its task graph (plan -> mapped shard -> finalize). Installs apache-airflow
## into AIRFLOW_VENV (default target/airflow-venv) if missing: about 300 MB and a minute or
## more, hence its own target. Then one whole DAG run (`airflow dags test`, a stub regrade),
## about 20 s; AIRFLOW_CHECK_FLAGS=--no-run leaves it out. Not part of `make test`.
.PHONY: check-airflow
AIRFLOW_VENV ?= target/airflow-venv
AIRFLOW_VERSION ?= 3.3.2
AIRFLOW_CHECK_FLAGS ?=
check-airflow:
	@if [ "$$($(AIRFLOW_VENV)/bin/python -c 'from importlib.metadata import version; print(version("apache-airflow"))' 2>/dev/null)" != "$(AIRFLOW_VERSION)" ]; then \
	  echo "check-airflow: installing apache-airflow $(AIRFLOW_VERSION) into $(AIRFLOW_VENV)"; \
	  python3 -m venv $(AIRFLOW_VENV) && \
	  $(AIRFLOW_VENV)/bin/pip install --quiet --disable-pip-version-check "apache-airflow==$(AIRFLOW_VERSION)"; \
	fi
	$(AIRFLOW_VENV)/bin/python jobs/shards/check_airflow.py $(AIRFLOW_CHECK_FLAGS)

clean:
	$(CARGO) clean
	rm -rf $(DEMO_DIR)

## fuzz-smoke: a short fuzzing run (issue 5; CI runs it). Installs cargo-fuzz if missing,
## builds the targets in fuzz/ (RUSTC_BOOTSTRAP=1 lets the stable toolchain take cargo-fuzz's
## -Z flags), replays every input in fuzz/regressions/<target>/, then fuzzes each target for
## FUZZ_SECONDS from its committed seed corpus fuzz/corpus/<target>/ (new inputs go to a
## scratch copy). Fails on any panic, failed property, hang (> 10 s) or runaway memory.
## Crashing inputs land in fuzz/artifacts/<target>/. See fuzz/README.md.
.PHONY: fuzz-smoke
FUZZ_SECONDS ?= 30
FUZZ_TARGETS ?= grading_policy pyjson visible_blocks structure_json
FUZZ_TARGET_DIR ?= $(CURDIR)/fuzz/target
CARGO_FUZZ_VERSION ?= 0.13.2
FUZZ_BUILD_FLAGS ?= --target-dir $(FUZZ_TARGET_DIR)
FUZZ_RUN_FLAGS ?= -timeout=10 -rss_limit_mb=2048 -dict=$(CURDIR)/fuzz/json.dict
fuzz-smoke:
	$(CARGO) fuzz --version >/dev/null 2>&1 || $(CARGO) install cargo-fuzz@$(CARGO_FUZZ_VERSION) --locked
	RUSTC_BOOTSTRAP=1 $(CARGO) fuzz build $(FUZZ_BUILD_FLAGS)
	@set -e; for t in $(FUZZ_TARGETS); do \
	  regressions=$$(ls fuzz/regressions/$$t/* 2>/dev/null || true); \
	  if [ -n "$$regressions" ]; then \
	    echo "== fuzz-smoke: $$t: replaying fuzz/regressions/$$t/"; \
	    RUSTC_BOOTSTRAP=1 $(CARGO) fuzz run $(FUZZ_BUILD_FLAGS) $$t $$regressions -- $(FUZZ_RUN_FLAGS); \
	  fi; \
	  scratch=$(FUZZ_TARGET_DIR)/smoke-corpus/$$t; log=$(FUZZ_TARGET_DIR)/smoke-$$t.log; \
	  rm -rf $$scratch; mkdir -p $$scratch; \
	  echo "== fuzz-smoke: $$t: fuzzing for $(FUZZ_SECONDS) s (log: $$log)"; \
	  if ! RUSTC_BOOTSTRAP=1 $(CARGO) fuzz run $(FUZZ_BUILD_FLAGS) $$t $$scratch fuzz/corpus/$$t -- \
	      $(FUZZ_RUN_FLAGS) -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 >$$log 2>&1; then \
	    grep -v -E '^#[0-9]+[[:space:]]+(NEW|REDUCE|pulse)' $$log; \
	    echo "fuzz-smoke: $$t failed; the input is in fuzz/artifacts/$$t/ (full log: $$log)" >&2; exit 1; \
	  fi; \
	  grep -v -E '^#[0-9]+[[:space:]]+(NEW|REDUCE|pulse)' $$log; \
	done
