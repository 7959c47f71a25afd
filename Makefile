# Quick start: `make run` (the product with demo data) and `make test` (the whole suite).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test lint bench install install-dev browser

$(VENV)/.installed: requirements.txt
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt $(VENV)/.installed
	$(BIN)/pip install -q -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

run: install
	./scripts/run.sh

test: install-dev
	$(BIN)/ruff check .
	$(BIN)/pytest -n 2 -q

lint: install-dev
	$(BIN)/ruff check .

# One module per area; each prints a JSON line per figure (BENCH_ARGS=--quick for a smoke run).
BENCHES := lists campaigns tracking dotdigital dotdigital_stats mailchimp

bench: install-dev
	@for m in $(BENCHES); do $(BIN)/python -m bench.$$m $(BENCH_ARGS) || exit 1; done
