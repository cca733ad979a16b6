# olkit — two commands for a newcomer:  `make tour`  and  `make test`.
# Both bootstrap an in-repo .venv idempotently: setup re-runs only when pyproject.toml changes.

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.olkit-setup-$(shell cat pyproject.toml scripts/setup.sh 2>/dev/null | sha256sum | cut -c1-16)
PYTEST_ARGS ?=
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: setup tour test lab lint bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml scripts/setup.sh
	@PYTHON=$(PYTHON) bash scripts/setup.sh
	@rm -f $(VENV)/.olkit-setup-* && touch $@

tour: setup
	$(BIN)/olkit tour --reports reports

test: setup
	$(BIN)/python -m pytest -n 2 --dist loadgroup --durations=25 $(PYTEST_ARGS)

lab: setup
	$(BIN)/jupyter lab notebooks

lint: setup
	$(BIN)/ruff check olkit tests benchmarks

bench: setup
	for b in benchmarks/*_bench.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) reports .pytest_cache
