# Aftercart developer entry points. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV        := .venv
PY          := $(VENV)/bin/python
CARGO_LAMBDA := $(VENV)/bin/cargo-lambda
SAM         := $(VENV)/bin/sam
# checkov cannot share .venv with aws-sam-cli (see tools/requirements-checkov.txt).
CHECKOV_VENV := .venv-checkov
# The merchant config that `make build` and `make deploy` put beside the functions.
CONFIG      ?= infra/aftercart.toml
FUNCTIONS   := webhook ingest dispatch links mail-events
# Binaries `make startup` measures.
BINS        ?= $(FUNCTIONS)
# The venv's tools (cargo-lambda, zig, sam) first on PATH.
TOOLS_PATH  := PATH="$(abspath $(VENV))/bin:$$PATH"
export SAM_CLI_TELEMETRY := 0
DEV_PORT    ?= 5005
TEST_PORT   ?= 5006
WATCH_PORT  ?= 9000
TOPIC       ?= orders/paid
# cargo-fuzz, pinned, installed from crates.io into .tools/ by `make fuzz`.
CARGO_FUZZ_VERSION := 0.13.2
CARGO_FUZZ  := .tools/bin/cargo-fuzz
FUZZ_TARGETS ?= webhook mail_events link_tokens link_requests config orders_csv ingest
# Seconds each fuzz target runs (`make fuzz SECONDS=300`).
SECONDS     ?= 60
# Load .env (KEY=VALUE lines) into a recipe's shell.
WITH_ENV    := set -a && source ./.env && set +a &&

.PHONY: help venv env dev moto-start moto-stop setup-local sample stop test test-unit \
        test-integration lint fmt bench table-def check-config smoke clean dispatch outbox preview preview-all \
        build deploy validate startup cycles confirm-redact replay redrive import-orders reputation fuzz fuzz-build \
        fuzz-corpus bench-ingest report report-link test-browser chromium simulate backtest

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-17s %s\n", $$1, $$2}'

$(VENV)/.installed: tools/requirements.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r tools/requirements.txt
	touch $@

$(CHECKOV_VENV)/.installed: tools/requirements-checkov.txt
	python3 -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet --disable-pip-version-check -r tools/requirements-checkov.txt
	touch $@

# Targets depend on the venv they use: `make dev` installs .venv only; checkov's venv is
# built by `make validate` (or here).
venv: $(VENV)/.installed $(CHECKOV_VENV)/.installed ## Install all pinned tools (moto, cargo-lambda, sam, cfn-lint; checkov in .venv-checkov)

.env:
	cp .env.example .env

env: .env

moto-start: $(VENV)/.installed ## Start the local moto server (DynamoDB + SES v2) on DEV_PORT
	MOTO_PORT=$(DEV_PORT) tools/moto.sh start

moto-stop: ## Stop the local moto server
	MOTO_PORT=$(DEV_PORT) tools/moto.sh stop

setup-local: moto-start .env ## Create the table and SES identity on the local moto server
	$(WITH_ENV) cargo run --quiet -p aftercart-cli -- setup-local

# The queue poller (`aftercart poll-queue`, Lambda's SQS trigger locally) runs beside
# `cargo lambda watch` and stops with it.
dev: setup-local ## Run the functions locally: moto, cargo lambda watch on 127.0.0.1:9000, the ingest queue's poller
	@echo "webhook endpoint: http://127.0.0.1:$(WATCH_PORT)/lambda-url/webhook/  (Ctrl-C stops; 'make stop' stops moto)"
	@echo "report page (after 'make sample' and 'make dispatch'): $$($(WITH_ENV) cargo run --quiet -p aftercart-cli -- report-link --shop $(REPORT_SHOP))"
	@$(WITH_ENV) if [ -n "$${AFTERCART_QUEUE_URL:-}" ]; then cargo build --quiet -p aftercart-cli; fi
	$(WITH_ENV) if [ -n "$${AFTERCART_QUEUE_URL:-}" ]; then \
	  $(or $(CARGO_TARGET_DIR),target)/debug/aftercart poll-queue & poller=$$!; trap "kill $$poller 2>/dev/null" EXIT; fi; \
	  PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(CARGO_LAMBDA) lambda watch \
	  --invoke-address 127.0.0.1 --invoke-port $(WATCH_PORT) --env-file .env \
	  --env-var AFTERCART_CONFIG=$(CURDIR)/infra/aftercart.toml

sample: .env ## Send a signed sample webhook (TOPIC=orders/paid) to `make dev` (VIA=eventbridge: as Shopify's EventBridge event), show what was stored
	$(WITH_ENV) cargo run --quiet -p aftercart-cli -- sample --topic $(TOPIC) --via $(or $(VIA),https) \
	  --url http://127.0.0.1:$(WATCH_PORT)/lambda-url/webhook/ \
	  --ingest-url http://127.0.0.1:$(WATCH_PORT)/2015-03-31/functions/ingest/invocations

REPORT_SHOP ?= aftercart-demo.myshopify.com
REPORT_DIR  ?= target/report

report: .env ## Write the demo shop's report (last 30 days) from `make dev`'s moto to target/report/, print the paths
	$(WITH_ENV) cargo run --quiet -p aftercart-cli -- report --shop $(REPORT_SHOP) --format html --out $(REPORT_DIR)/report.html
	$(WITH_ENV) cargo run --quiet -p aftercart-cli -- report --shop $(REPORT_SHOP) --format json --out $(REPORT_DIR)/report.json
	$(WITH_ENV) cargo run --quiet -p aftercart-cli -- report --shop $(REPORT_SHOP) --format csv --out $(REPORT_DIR)/report.csv

report-link: .env ## Print a signed link to the demo shop's report page under `make dev` (REPORT_SHOP=… for another)
	@$(WITH_ENV) cargo run --quiet -p aftercart-cli -- report-link --shop $(REPORT_SHOP)

# Debian's chromium, for the browser checks (apt only; nothing downloaded elsewhere).
chromium:
	@command -v chromium >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

# playwright-core (pinned in tools/browser/package-lock.json) drives Debian's chromium;
# it downloads no browser.
tools/browser/node_modules/.installed: tools/browser/package.json tools/browser/package-lock.json
	npm ci --prefix tools/browser --no-audit --no-fund --loglevel=error
	touch $@

test-browser: $(VENV)/.installed chromium tools/browser/node_modules/.installed ## The report page (390, 1280 px) and every email preview (390, 800 px) in headless Chromium; screenshots in target/browser/
	tools/browser_report.sh
	tools/browser_mail.sh

dispatch: .env ## Run the dispatcher once against `make dev`, as of AT (default now), e.g. AT=2026-12-30T10:00:00Z
	$(WITH_ENV) cargo run --quiet -p aftercart-cli -- dispatch $(if $(AT),--at $(AT))

outbox: .env ## Write the emails moto has received to outbox/ (.eml and .html)
	$(WITH_ENV) cargo run --quiet -p aftercart-cli -- outbox --dir outbox

preview-all: .env ## Render every playbook in every language to outbox/preview/ (index.html links them), nothing sent
	$(WITH_ENV) cargo run --quiet -p aftercart-cli -- preview-all --dir outbox/preview

preview: .env ## Render PLAYBOOK (default thank_you) for the sample order to outbox/, nothing sent
	$(WITH_ENV) cargo run --quiet -p aftercart-cli -- preview --playbook $(or $(PLAYBOOK),thank_you) $(if $(LOCALE),--locale $(LOCALE))

confirm-redact: .env ## Confirm a shop/redact waiting for an operator: SHOP=name.myshopify.com (BY=who, default $$USER)
	@test -n "$(SHOP)" || { echo "usage: make confirm-redact SHOP=name.myshopify.com [BY=name]"; exit 2; }
	$(WITH_ENV) cargo run --quiet -p aftercart-cli -- confirm-redact --shop $(SHOP) $(if $(BY),--by $(BY))

replay: .env ## Record a shop's quarantined deliveries after a fix: SHOP=name.myshopify.com
	@test -n "$(SHOP)" || { echo "usage: make replay SHOP=name.myshopify.com"; exit 2; }
	$(WITH_ENV) cargo run --quiet -p aftercart-cli -- replay --shop $(SHOP)

redrive: .env ## Record the ingest queue's dead-letter queue (AFTERCART_DLQ_URL) after a fix, exactly once
	$(WITH_ENV) cargo run --quiet -p aftercart-cli -- redrive

import-orders: .env ## Record a shop's past orders from Shopify's order export, sending nothing: SHOP=name.myshopify.com FILE=orders.csv
	@test -n "$(SHOP)" -a -n "$(FILE)" || { echo "usage: make import-orders SHOP=name.myshopify.com FILE=orders.csv"; exit 2; }
	$(WITH_ENV) cargo run --quiet -p aftercart-cli -- import-orders --shop $(SHOP) --file $(FILE)

simulate: ## Replenishment timing on a synthetic store (learned vs fixed vs oracle), then a holdout run with a planted effect; in memory, seeded
	cargo run --quiet --release -p aftercart-cli -- simulate $(ARGS)
	cargo run --quiet --release -p aftercart-cli -- simulate --holdout 20 --effect 0.5 $(ARGS) | sed -n '/^Holdout/,$$p'

backtest: .env ## Predict each customer's last repeat in a real order export, learned vs fixed timing, in memory: SHOP=name.myshopify.com FILE=orders.csv
	@test -n "$(SHOP)" -a -n "$(FILE)" || { echo "usage: make backtest SHOP=name.myshopify.com FILE=orders.csv"; exit 2; }
	$(WITH_ENV) cargo run --quiet --release -p aftercart-cli -- backtest --shop $(SHOP) --file $(FILE)

reputation: .env ## A shop's bounce/complaint rates and marketing brake: SHOP=name.myshopify.com (RESUME=1 lifts a pause)
	@test -n "$(SHOP)" || { echo "usage: make reputation SHOP=name.myshopify.com [RESUME=1]"; exit 2; }
	$(WITH_ENV) cargo run --quiet -p aftercart-cli -- reputation --shop $(SHOP) $(if $(RESUME),--resume)

stop: moto-stop ## Stop local services

check-config: ## Validate the merchant config (CONFIG=infra/aftercart.toml)
	cargo run --quiet -p aftercart-cli -- check-config $(or $(CONFIG),infra/aftercart.toml)

table-def: ## Print the table block that infra/template.yaml must carry
	@cargo run --quiet -p aftercart-cli -- table-def

fmt: ## Format the code
	cargo fmt --all

lint: ## Format check, clippy with warnings as errors, the library's layering and function length
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets --quiet -- -D warnings
	python3 tools/cycles.py --src shared/src
	python3 tools/fn_length.py --src shared/src

test-unit: ## Unit tests (no services needed)
	cargo test -p aftercart -p aftercart-cli

# Integration tests get their own moto on TEST_PORT, stopped whatever the result.
test-integration: $(VENV)/.installed ## Integration tests against a moto server started for the run
	MOTO_PORT=$(TEST_PORT) tools/moto.sh start
	AFTERCART_TEST_ENDPOINT=http://127.0.0.1:$(TEST_PORT) cargo test -p aftercart-integration; \
	  rc=$$?; MOTO_PORT=$(TEST_PORT) tools/moto.sh stop; exit $$rc

smoke: $(VENV)/.installed ## Smoke test: signed samples over HTTP through `cargo lambda watch` + moto
	timeout --kill-after=10 900 tools/smoke.sh

test: lint validate test-unit test-integration smoke test-browser ## Everything CI runs: lint, infra checks, unit, integration, smoke and browser tests

validate: $(VENV)/.installed $(CHECKOV_VENV)/.installed ## Static checks of infra/template.yaml: cfn-lint, sam validate --lint, checkov
	$(VENV)/bin/cfn-lint infra/template.yaml
	$(SAM) validate --lint --template-file infra/template.yaml --region $(or $(AWS_REGION),us-east-1)
	$(CHECKOV_VENV)/bin/checkov --skip-download --quiet --compact --framework cloudformation \
	  -f infra/template.yaml

# Each zip holds bootstrap and the merchant config as aftercart.toml, which the
# functions find beside the binary (/var/task) when AFTERCART_CONFIG is unset. The zips go
# to LAMBDA_DIR/<function>/bootstrap.zip (target/lambda, or lambda/ in CARGO_TARGET_DIR
# when that is set). The table of sizes marks any zip over ZIP_LIMIT bytes (5 MB) and
# fails the build for it (ZIP_STRICT=0: only marks it).
TARGET_DIR  := $(or $(CARGO_TARGET_DIR),target)
LAMBDA_DIR  ?= $(TARGET_DIR)/lambda
ZIP_LIMIT   ?= 5000000
ZIP_STRICT  ?= 1
build: $(VENV)/.installed ## Release arm64 zips of the functions in target/lambda/<function>/bootstrap.zip (CONFIG inside); sizes printed; one over 5 MB fails (ZIP_STRICT=0: marked only)
	rustup target add aarch64-unknown-linux-gnu
	$(TOOLS_PATH) $(CARGO_LAMBDA) lambda build --release --arm64 --output-format zip \
	  --lambda-dir $(LAMBDA_DIR) --include aftercart.toml:$(CONFIG) $(addprefix -p ,$(FUNCTIONS))
	@python3 tools/zip_sizes.py --limit $(ZIP_LIMIT) $(if $(filter 1,$(ZIP_STRICT)),--strict) $(LAMBDA_DIR) $(FUNCTIONS)

# The config goes in as a layer (/opt/aftercart.toml): SAM's cargo-lambda build puts only
# the binary in each function. tools/deploy.py runs `sam deploy`, guided the first time
# (it writes samconfig.toml), with the configuration set named by the config and PARAMS
# (e.g. PARAMS="Stage=prod AlarmEmail=ops@example.com") over samconfig.toml's values.
deploy: $(VENV)/.installed ## Check CONFIG, sam build, sam deploy (first run guided); PARAMS="Key=Value ..." overrides
	cargo run --quiet -p aftercart-cli -- check-config $(CONFIG)
	rm -rf target/config-layer && mkdir -p target/config-layer
	cp $(CONFIG) target/config-layer/aftercart.toml
	rustup target add aarch64-unknown-linux-gnu
	$(TOOLS_PATH) $(SAM) build --beta-features --template-file infra/template.yaml
	$(TOOLS_PATH) $(PY) tools/deploy.py --config $(CONFIG) --samconfig samconfig.toml $(PARAMS)

# x86_64 release builds (the arm64 ones cannot run here) against a local Runtime API stub.
startup: ## Start-up time to the first Runtime API poll (BINS="webhook dispatch links mail-events"), and the zip sizes from `make build`
	cargo build --release $(addprefix -p ,$(BINS))
	python3 tools/startup.py --runs $(or $(RUNS),20) --config $(CONFIG) --zips $(LAMBDA_DIR) \
	  $(addprefix $(TARGET_DIR)/release/,$(BINS))

$(CARGO_FUZZ):
	cargo install cargo-fuzz --version $(CARGO_FUZZ_VERSION) --locked --root .tools

# -s none (no sanitizer) builds on the stable toolchain; -O -a: optimised, with debug
# assertions and overflow checks. The fuzz crate is its own workspace (fuzz/target).
fuzz-build: $(CARGO_FUZZ) ## Build the fuzz targets (cargo-fuzz, libFuzzer, stable toolchain)
	env -u CARGO_TARGET_DIR $(CARGO_FUZZ) build -s none -O -a --codegen-units 16

fuzz-corpus: ## Write the fuzz seed corpora (fuzz/corpus/) from the fixtures
	fuzz/seed.sh

fuzz: fuzz-build fuzz-corpus ## Run each fuzz target for SECONDS (default 60); fails on any crash, prints executions
	env -u CARGO_TARGET_DIR fuzz/run.sh $(SECONDS) $(CARGO_FUZZ) $(FUZZ_TARGETS)

cycles: ## Upward imports between the library's layers and import cycles (tools/cycles.py; --edges lists every import)
	python3 tools/cycles.py --src shared/src

bench: $(VENV)/.installed ## Benchmarks (release build): ingest, email, Node ratio; against moto: DynamoDB cost per order, the report page, 1,000 orders through the ingest queue
	cargo bench -p aftercart --bench ingest --bench email --bench node_ratio
	MOTO_PORT=$(TEST_PORT) tools/moto.sh start
	AFTERCART_TEST_ENDPOINT=http://127.0.0.1:$(TEST_PORT) cargo bench -p aftercart-integration --bench cost --bench report && \
	  ORDERS=1000 CUSTOMERS=100 AFTERCART_TEST_ENDPOINT=http://127.0.0.1:$(TEST_PORT) cargo bench -p aftercart-integration --bench ingest_load; \
	  rc=$$?; MOTO_PORT=$(TEST_PORT) tools/moto.sh stop; exit $$rc

# The full load run: about 16 min on 2 cores (make bench runs 1,000 orders of it).
bench-ingest: $(VENV)/.installed ## Load through the ingest queue on moto: ORDERS (5000) of CUSTOMERS (500), HTTPS then EventBridge
	MOTO_PORT=$(TEST_PORT) tools/moto.sh start
	AFTERCART_TEST_ENDPOINT=http://127.0.0.1:$(TEST_PORT) cargo bench -p aftercart-integration --bench ingest_load; \
	  rc=$$?; MOTO_PORT=$(TEST_PORT) tools/moto.sh stop; exit $$rc

clean: stop ## Remove build output and local state
	cargo clean
	rm -rf .run outbox .aws-sam
