# regrade: the two set-up commands are `make demo` and `make test`.
CARGO ?= cargo
DEMO_DIR ?= demo-out
BIN := target/debug/regrade

.PHONY: all build test lint fmt demo bench clean

all: build

build:
	$(CARGO) build --bins

## test: formatting, lints (warnings are errors) and the whole suite, on a debug build.
test:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets -- -D warnings
	$(CARGO) test --all-targets

lint:
	$(CARGO) clippy --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

## demo: build, generate a sample dataset on the local filesystem, check it, run a full
## regrade with the embedded default job, and say where everything is.
demo: build
	rm -rf $(DEMO_DIR)
	$(BIN) generate $(DEMO_DIR)/input --seed 1 --courses 3 --learners 200 --problems-per-course 24
	$(BIN) check $(DEMO_DIR)/input
	$(BIN) run jobs/full-recompute.toml --input $(DEMO_DIR)/input --output $(DEMO_DIR)/runs/full-recompute
	@echo
	@echo "Sample input dataset:  $(CURDIR)/$(DEMO_DIR)/input"
	@echo "Regrade outputs:       $(CURDIR)/$(DEMO_DIR)/runs/full-recompute"
	@echo "  course grades:       $(DEMO_DIR)/runs/full-recompute/course_grades/   (Hive-partitioned Parquet)"
	@echo "  subsection grades:   $(DEMO_DIR)/runs/full-recompute/subsection_grades/"
	@echo "  diffs:               $(DEMO_DIR)/runs/full-recompute/diffs/"
	@echo "  edX CSV reports:     $(DEMO_DIR)/runs/full-recompute/reports/"
	@echo "  manifest:            $(DEMO_DIR)/runs/full-recompute/manifest.json"
	@echo "Try: duckdb -c \"SELECT course_id, count(*), avg(percent_grade) FROM '$(DEMO_DIR)/runs/full-recompute/course_grades/**/*.parquet' GROUP BY 1\""
	@echo "Other jobs: $(BIN) run jobs/only-if-higher.toml | jobs/what-if-policy.toml | jobs/grade-report.toml"
	@echo "Backfill before grades.assume_zero_if_absent: $(BIN) backfill jobs/backfill.toml (readiness.csv, backfill/)"

## bench: timing targets live here, never in unit tests.
bench:
	$(CARGO) bench

clean:
	$(CARGO) clean
	rm -rf $(DEMO_DIR)
