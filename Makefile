# Chorus — `make` or `make help` lists the targets.
.DEFAULT_GOAL := help
SHELL := /bin/bash
UV ?= $(shell command -v uv 2>/dev/null || echo "python3 -m uv")
TYPED := libs/chorus_kit/src services/identity/src services/access/src deploy/local/src gateway/src

.PHONY: help
help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: deps
deps: ## Install Python dependencies (uv workspace, locked)
	@$(UV) sync --frozen --all-packages --quiet

.PHONY: up
up: deps ## Start Kafka, FerretDB and every service locally; prints the URLs
	@$(UV) run chorus up

.PHONY: down
down: ## Stop everything `make up` started
	@$(UV) run chorus down

.PHONY: status
status: ## Report each part of the local platform
	@$(UV) run chorus status || true

.PHONY: lint
lint: deps ## ruff, mypy (strict) and the event-contract check
	$(UV) run ruff check .
	$(UV) run ruff format --check .
	$(UV) run mypy $(TYPED)
	$(UV) run chorus contracts --check
	$(UV) run python -m gateway.sdl --check

.PHONY: test
test: lint ## Lint, then every test against a real Kafka and MongoDB-wire server
	$(UV) run pytest

.PHONY: contracts
contracts: deps ## Regenerate event JSON Schemas and docs/events.md from the models
	$(UV) run chorus contracts

.PHONY: graphql-schema
graphql-schema: deps ## Regenerate gateway/schema.graphql (the SDL a test diffs against the code)
	$(UV) run python -m gateway.sdl

.PHONY: dlq-replay
dlq-replay: deps ## Re-drive a dead-letter topic: make dlq-replay TOPIC=chorus.identity.employee.v1 GROUP=access
	$(UV) run chorus dlq-replay --topic $(TOPIC) --group $(GROUP)

.PHONY: token
token: deps ## Mint a dev token: make token ROLE=admin UNIT=company
	@$(UV) run chorus token --role $(or $(ROLE),admin) --unit $(or $(UNIT),company)

.PHONY: bench-backbone
bench-backbone: deps ## Benchmark: raw Kafka, raw DB writes, and the outbox→Kafka→consumer backbone
	$(UV) run python -m bench.backbone

.PHONY: bench-revocation
bench-revocation: deps ## Benchmark: offboard in identity → the leaver's token refused by access (p50/p99)
	$(UV) run python -m bench.revocation

.PHONY: bench-identity
bench-identity: deps ## Benchmark: SCIM create/PATCH per s, sign-ins per s (argon2id), revocation p50/p99
	$(UV) run python -m bench.identity

.PHONY: bench-leaver
bench-leaver: deps ## Benchmark: SCIM deactivation → access's offboarding completed (p50/p99), then 10,000 leavers at once
	$(UV) run python -m bench.leaver

.PHONY: bench-ferretdb
bench-ferretdb: deps ## Benchmark: concurrent writes on the local FerretDB, with and without Chorus's write patches
	$(UV) run python -m bench.ferretdb_writes

.PHONY: bench-gateway
bench-gateway: deps ## Benchmark: hello world vs direct backend calls vs the gateway query (max rps, p50/p99)
	$(UV) run python -m bench.gateway

.PHONY: clean
clean: down ## Stop everything and delete local state (var/local and leftovers of test and benchmark runs)
	rm -rf var/local var/test-infra-* var/bench-*
