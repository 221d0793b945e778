# Qorgau — the two commands a fresh machine needs are `make demo` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SEED_CSV := ../shared/data/kz-journalist-incidents-seed/kz_incidents_seed.csv
DATA_DIR ?= qorgau-data

.PHONY: demo test lint services screenshots fuzz crash-test bench-security bench bench-quick bench-alerts bench-vault bench-monitor bench-detect bench-campaigns bench-reports bench-ui assets messages clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[dev]"
	touch $@

## Load the demo cases into ./qorgau-data (SQLite + local key file) and serve on :8000
demo: $(STAMP)
	$(BIN)/qorgau demo --data-dir $(DATA_DIR) $(if $(wildcard $(SEED_CSV)),--seed-csv $(SEED_CSV))

UI_NODE := assets/ui/node_modules/.package-lock.json

# axe-core for the accessibility tests, installed from the npm registry (exact versions).
$(UI_NODE): assets/ui/package.json assets/ui/package-lock.json
	@if command -v npm >/dev/null 2>&1; then cd assets/ui && npm ci --no-audit --no-fund; \
	else echo "npm not found: the accessibility checks (axe-core) will be skipped" >&2; fi

## Lint, type-check and run every test on SQLite and PostgreSQL
test: $(STAMP) services $(UI_NODE)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy
	$(BIN)/pytest -q -n auto --dist loadfile

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy

## Security: schemathesis over the whole API (>= 10,000 requests), SIGKILL crash consistency
## (200 kills per database), intake p50/p95/p99 beside a flood of bad requests (5 minutes)
fuzz: $(STAMP)
	$(BIN)/python -m benchmarks.fuzz_api --requests 10000

crash-test: $(STAMP) services
	$(BIN)/python -m benchmarks.crash_consistency --kills 200

bench-security: $(STAMP) services
	$(BIN)/python -m benchmarks.security_load --find --seconds 300

## Rebuild the front-end files the project serves itself, from the npm registry (committed;
## needs Node.js): the interactive-charts bundle and htmx
assets: $(UI_NODE)
	cd assets/charts && npm ci --no-audit --no-fund && npm run build
	cp assets/charts/dist/qorgau-charts.js src/qorgau/web/static/qorgau-charts.js
	cp assets/ui/node_modules/htmx.org/dist/htmx.min.js src/qorgau/web/static/htmx.min.js

## Screenshots of the main pages into docs/screenshots (the browser tests take them)
screenshots: $(STAMP) services $(UI_NODE)
	QORGAU_SCREENSHOTS=docs/screenshots $(BIN)/pytest -q -m browser -k sqlite -p no:randomly

## Make sure the local PostgreSQL the tests use is running
services:
	bash scripts/services.sh

## Intake and search benchmarks (wrk on loopback); writes BENCHMARKS.md figures to stdout
bench: $(STAMP) services
	bash benchmarks/run.sh

bench-quick: $(STAMP) services
	QUICK=1 bash benchmarks/run.sh

## Alert latency: POST of a critical report -> e-mail at a loopback SMTP server (embedded and
## NATS JetStream paths), and deadline -> escalation e-mail
bench-alerts: $(STAMP) services
	$(BIN)/python -m benchmarks.alerts

## Evidence vault: ingest vs openssl, verify of 100,000 items, proofs, page capture
bench-vault: $(STAMP) services
	$(BIN)/python -m benchmarks.vault

## Reachability monitor in the namespace lab (root): measurements a minute from one agent and
## the time from a block starting to the desk's incident
bench-monitor: $(STAMP) services
	$(BIN)/python -m benchmarks.monitor_lab

## Detectors: identifier scan against plain Aho-Corasick, flood onset and false alarms over
## simulated weeks, observations per second through JetStream workers, a month on Dask
bench-detect: $(STAMP) services
	$(BIN)/python -m benchmarks.identifiers
	$(BIN)/python -m benchmarks.floods --seeds 20
	$(BIN)/python -m benchmarks.pipeline

## Campaign detectors: co-sharing beside the QUT toolkit (german_elections), near-duplicates
## over a million posts beside the exhaustive method, the threat classifier on held-out public
## data, look-alike precision and recall, perceptual-hash robustness
## Reports and sharing: quarterly report (HTML, PDF) and STIX export from 10,000 incidents,
## statistics API p95 on 100,000 incidents on SQLite and PostgreSQL
bench-reports: $(STAMP) services
	$(BIN)/python -m benchmarks.reports

## Web interface: desk queue and case page p95 with 100,000 incidents (SQLite, PostgreSQL),
## the report form's page weight
bench-ui: $(STAMP) services
	$(BIN)/python -m benchmarks.ui_pages

bench-campaigns: $(STAMP)
	$(BIN)/python -m benchmarks.co_sharing
	$(BIN)/python -m benchmarks.near_duplicates --full --sample 2000
	$(BIN)/python -m benchmarks.abuse_classifier --full
	$(BIN)/python -m benchmarks.lookalikes --full
	$(BIN)/python -m benchmarks.media_hashes --full

## Re-extract translatable messages and merge them into the ru/kk catalogues
messages: $(STAMP)
	mkdir -p build
	$(BIN)/pybabel extract --no-location --sort-output -k t -k N_ -k gettext:2 \
		-o build/qorgau.pot src/qorgau
	$(BIN)/pybabel update -D qorgau -i build/qorgau.pot -d src/qorgau/i18n/locales

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info
