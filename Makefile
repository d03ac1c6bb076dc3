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

## demo: build, generate a small sample dataset on the local filesystem, check every table
## against its schema, and say where it is.
demo: build
	rm -rf $(DEMO_DIR)
	$(BIN) generate $(DEMO_DIR)/input --seed 1 --courses 3 --learners 200 --problems-per-course 24
	$(BIN) check $(DEMO_DIR)/input
	@echo
	@echo "Sample input dataset: $(CURDIR)/$(DEMO_DIR)/input"
	@echo "Schemas: $(BIN) schema [TABLE]"

## bench: timing targets live here, never in unit tests.
bench:
	$(CARGO) bench

clean:
	$(CARGO) clean
	rm -rf $(DEMO_DIR)
