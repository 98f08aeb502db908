# Aftercart developer entry points. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV        := .venv
PY          := $(VENV)/bin/python
CARGO_LAMBDA := $(VENV)/bin/cargo-lambda
DEV_PORT    ?= 5005
TEST_PORT   ?= 5006
WATCH_PORT  ?= 9000
TOPIC       ?= orders/paid
# Load .env (KEY=VALUE lines) into a recipe's shell.
WITH_ENV    := set -a && source ./.env && set +a &&

.PHONY: help venv env dev moto-start moto-stop setup-local sample stop test test-unit \
        test-integration lint fmt bench table-def check-config smoke clean dispatch outbox preview

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-17s %s\n", $$1, $$2}'

$(VENV)/.installed: tools/requirements.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r tools/requirements.txt
	touch $@

venv: $(VENV)/.installed ## Install the pinned tools (moto, cargo-lambda) into .venv

.env:
	cp .env.example .env

env: .env

moto-start: venv ## Start the local moto server (DynamoDB + SES v2) on DEV_PORT
	MOTO_PORT=$(DEV_PORT) tools/moto.sh start

moto-stop: ## Stop the local moto server
	MOTO_PORT=$(DEV_PORT) tools/moto.sh stop

setup-local: moto-start .env ## Create the table and SES identity on the local moto server
	$(WITH_ENV) cargo run --quiet -p aftercart -- setup-local

dev: setup-local ## Run the functions locally: moto + cargo lambda watch on 127.0.0.1:9000
	@echo "webhook endpoint: http://127.0.0.1:$(WATCH_PORT)/lambda-url/webhook/  (Ctrl-C stops; 'make stop' stops moto)"
	$(WITH_ENV) PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(CARGO_LAMBDA) lambda watch \
	  --invoke-address 127.0.0.1 --invoke-port $(WATCH_PORT) --env-file .env \
	  --env-var AFTERCART_CONFIG=$(CURDIR)/infra/aftercart.toml

sample: .env ## Send a signed sample webhook (TOPIC=orders/paid) to `make dev`, show what was stored
	$(WITH_ENV) cargo run --quiet -p aftercart -- sample --topic $(TOPIC) \
	  --url http://127.0.0.1:$(WATCH_PORT)/lambda-url/webhook/

dispatch: .env ## Run the dispatcher once against `make dev`, as of AT (default now), e.g. AT=2026-12-30T10:00:00Z
	$(WITH_ENV) cargo run --quiet -p aftercart -- dispatch $(if $(AT),--at $(AT))

outbox: .env ## Write the emails moto has received to outbox/ (.eml and .html)
	$(WITH_ENV) cargo run --quiet -p aftercart -- outbox --dir outbox

preview: .env ## Render PLAYBOOK (default thank_you) for the sample order to outbox/, nothing sent
	$(WITH_ENV) cargo run --quiet -p aftercart -- preview --playbook $(or $(PLAYBOOK),thank_you) $(if $(LOCALE),--locale $(LOCALE))

stop: moto-stop ## Stop local services

check-config: ## Validate the merchant config (CONFIG=infra/aftercart.toml)
	cargo run --quiet -p aftercart -- check-config $(or $(CONFIG),infra/aftercart.toml)

table-def: ## Print the table block that infra/template.yaml must carry
	@cargo run --quiet -p aftercart -- table-def

fmt: ## Format the code
	cargo fmt --all

lint: ## Format check and clippy with warnings as errors
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets --quiet -- -D warnings

test-unit: ## Unit tests (no services needed)
	cargo test -p aftercart -p webhook

# Integration tests get their own moto on TEST_PORT, stopped whatever the result.
test-integration: venv ## Integration tests against a moto server started for the run
	MOTO_PORT=$(TEST_PORT) tools/moto.sh start
	AFTERCART_TEST_ENDPOINT=http://127.0.0.1:$(TEST_PORT) cargo test -p aftercart-integration; \
	  rc=$$?; MOTO_PORT=$(TEST_PORT) tools/moto.sh stop; exit $$rc

smoke: venv ## Smoke test: signed samples over HTTP through `cargo lambda watch` + moto
	tools/smoke.sh

test: lint test-unit test-integration smoke ## Everything CI runs: lint, unit, integration and smoke tests

bench: ## Criterion benchmarks (release build); prints times and MB/s
	cargo bench -p aftercart --bench ingest --bench email

clean: stop ## Remove build output and local state
	cargo clean
	rm -rf .run outbox
