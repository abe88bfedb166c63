# Hookline developer entry points. `make help` lists them.
#
# Python tools (moto, cfn-lint, SAM CLI, cargo-lambda) live in a local .venv that is
# installed on first use. The stamp file's name carries a hash of the pins, so changing
# a pin reinstalls.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

PYTHON ?= python3
VENV := .venv
PY_PINS := moto[server]==5.2.5 cfn-lint==1.58.0 aws-sam-cli==1.170.0 cargo-lambda==1.9.2 openapi-spec-validator==0.9.0 \
	schemathesis==4.32.5 openapi-python-client==0.29.1
PINS_HASH := $(shell printf '%s' '$(PY_PINS)' | sha256sum | cut -c1-12)
VENV_STAMP := $(VENV)/.installed-$(PINS_HASH)

PORT ?= 3000
CARGO_TEST_ARGS ?=
LAMBDA_TARGET := aarch64-unknown-linux-gnu

# Dummy credentials and a fixed region for every AWS client or tool a recipe runs, so
# nothing ever falls back to the instance metadata service or a real account.
export AWS_REGION := us-east-1
export AWS_DEFAULT_REGION := us-east-1
export AWS_ACCESS_KEY_ID := test
export AWS_SECRET_ACCESS_KEY := test
export AWS_EC2_METADATA_DISABLED := true
# Keep the SAM CLI from asking about or sending telemetry.
export SAM_CLI_TELEMETRY := 0

# `cargo lambda` finds its subcommand binary as `cargo-lambda` on PATH.
VENV_PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: help venv browser test api-checks fuzz-api client-flow dev chaos fairness build bench deploy lint-template fmt lint clean

help:
	@echo 'make test           lint the template, then cargo test against a local moto server (and headless Chromium)'
	@echo 'make fuzz-api       schemathesis on every operation of a local Hookline (loopback-only egress): no 5xx, answers as documented'
	@echo 'make client-flow    a client generated from GET /openapi.json drives a full flow against a local Hookline'
	@echo 'make dev            run Hookline locally (hookline-dev) on PORT=$(PORT) against moto'
	@echo 'make chaos          CHAOS_EVENTS=10000 events through flaky receivers while workers are SIGKILLed'
	@echo 'make fairness       tenant A floods hanging endpoints while tenant B sends steadily: B'"'"'s latency vs B alone'
	@echo 'make build          cargo lambda build --release --arm64 (the three functions)'
	@echo 'make bench          measure requests/cost per delivery, CPU, cold starts, sizes, memory, throughput (BENCH_ARM64=0 skips the arm64 size build)'
	@echo 'make deploy         sam build && sam deploy --guided'
	@echo 'make lint-template  cfn-lint + sam validate + cfn-lint of the SAM-transformed template'
	@echo 'make fmt            cargo fmt --check'
	@echo 'make lint           cargo fmt --check and cargo clippy -D warnings'
	@echo 'make clean          remove build output and the venv'

venv: $(VENV_STAMP)

$(VENV_STAMP):
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(VENV)/bin/python -m pip install --disable-pip-version-check $(foreach p,$(PY_PINS),'$(p)')
	touch $@

# The dashboard's tests (tests/tests/dashboard.rs) drive Debian's Chromium through its
# chromedriver. Installed when missing; CI runs as root, elsewhere through sudo.
BROWSER_PACKAGES := chromium chromium-driver
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

browser:
	@if [[ ! -x /usr/bin/chromium || ! -x /usr/bin/chromedriver ]]; then \
		$(SUDO) apt-get update && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y $(BROWSER_PACKAGES); \
	fi

test: $(VENV_STAMP) browser api-checks
	scripts/lint-template
	scripts/with-moto $(VENV)/bin/python scripts/check_moto_fixes.py
	scripts/with-moto cargo test --workspace --all-targets $(CARGO_TEST_ARGS)

# The API as its document describes it, each against make dev's server (target/debug/hookline-dev)
# on a free 127.0.0.1 port over a private moto, in loopback-only egress mode
# (scripts/with-hookline). About a minute each.
api-checks: fuzz-api client-flow

# schemathesis, all methods and phases (stateful included), bounded by FUZZ_EXAMPLES per
# operation; its JUnit report goes to target/schemathesis/.
FUZZ_EXAMPLES ?= 10
fuzz-api: $(VENV_STAMP)
	cargo build -p hookline-local --bin hookline-dev
	FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) scripts/with-moto scripts/with-hookline $(VENV)/bin/python scripts/checks/fuzz_api.py

# openapi-python-client generates target/hookline-client from GET /openapi.json; the script
# drives it through a tenant's whole life (scripts/checks/client_flow.py).
client-flow: $(VENV_STAMP)
	cargo build -p hookline-local --bin hookline-dev
	scripts/with-moto scripts/with-hookline $(VENV)/bin/python scripts/checks/client_flow.py

dev: $(VENV_STAMP)
	HOOKLINE_ADMIN_TOKEN=dev-admin-token HOOKLINE_EGRESS=loopback-only PORT=$(PORT) \
		scripts/with-moto cargo run -p hookline-local --bin hookline-dev

CHAOS_EVENTS ?= 10000

# The chaos run, in release mode (moto, not our code, is the bottleneck either way).
chaos: $(VENV_STAMP)
	cargo build --release -p hookline-local --bins
	CHAOS_EVENTS=$(CHAOS_EVENTS) scripts/with-moto target/release/hookline-chaos

# B's delivery latency alone, then with A flooding (guard on, then off), each phase on fresh
# resources and workers. A debug build: moto is the bottleneck, and the figures are ratios.
fairness: $(VENV_STAMP)
	cargo build -p hookline-local --bins
	scripts/with-moto target/debug/hookline-fairness

build: $(VENV_STAMP)
	rustup target add $(LAMBDA_TARGET)
	PATH="$(VENV_PATH)" $(VENV)/bin/cargo-lambda lambda build --release --arm64

# Release builds first (host for the measurements; arm64 through cargo lambda for the sizes,
# reported as x86_64 if that build fails), then one measuring run under a private moto that
# prints the table and writes bench/RESULTS.md. Its log: target/bench/arm64-build.log.
BENCH_ARM64 ?= 1
bench: $(VENV_STAMP)
	cargo build --release -p ingest -p deliver -p api -p hookline-bench
	mkdir -p target/bench
	if [[ "$(BENCH_ARM64)" != 1 ]]; then arm64=skipped; \
	elif { rustup target add $(LAMBDA_TARGET) && PATH="$(VENV_PATH)" $(VENV)/bin/cargo-lambda lambda build \
		--release --arm64 -p ingest -p deliver -p api; } >target/bench/arm64-build.log 2>&1; then arm64=ok; \
	else arm64="failed (see target/bench/arm64-build.log)"; echo "bench: arm64 build failed, sizes are x86_64" >&2; fi; \
	HOOKLINE_BENCH_ARM64="$$arm64" scripts/with-moto target/release/hookline-bench

deploy: $(VENV_STAMP)
	PATH="$(VENV_PATH)" $(VENV)/bin/sam build
	PATH="$(VENV_PATH)" $(VENV)/bin/sam deploy --guided

lint-template: $(VENV_STAMP)
	scripts/lint-template

fmt:
	cargo fmt --all --check

lint: fmt
	cargo clippy --workspace --all-targets -- -D warnings
	# The deliver function alone, as `sam build` builds it: `hookline-shared` without the `web`
	# feature the workspace build unifies in.
	cargo check -p deliver

clean:
	rm -rf target .aws-sam $(VENV)
