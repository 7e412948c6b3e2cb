# Two commands do everything on a fresh machine: `make demo` and `make test`.
# Each builds .venv first (idempotently: it reinstalls only when a pyproject.toml changes).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PYPROJECTS := pyproject.toml client/pyproject.toml prover/pyproject.toml gateway/pyproject.toml pol/pyproject.toml

.PHONY: venv demo test test-heavy lint format proto bench clean fuzz

# torch is pinned to the CPU build (2.13.0) in pyproject.toml: an unpinned torch pulls a
# multi-GB CUDA build.
$(STAMP): $(PYPROJECTS) scripts/install_chart_tools.sh scripts/checkov-requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e client -e prover -e gateway -e pol -e '.[dev]'
	bash scripts/install_system_packages.sh
	bash scripts/install_chart_tools.sh
	touch $@

venv: $(STAMP)

demo: venv
	bash scripts/demo.sh

test: venv
	$(BIN)/pytest

# The zoo models too large for CI's time limit (tests/end_to_end/test_zoo.py).
test-heavy: venv
	$(BIN)/pytest -m heavy

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: venv
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

proto: venv
	bash scripts/gen_proto.sh

bench: venv
	$(BIN)/python bench/run_all.py

# Coverage-guided fuzzing (atheris) of every parser, all targets in turn (fuzz/README.md).
FUZZ_SECONDS ?= 600
FUZZ_DIR ?= fuzz/out
fuzz: venv
	$(BIN)/python fuzz/run_all.py --seconds $(FUZZ_SECONDS) --out $(FUZZ_DIR)

clean:
	rm -rf demo-data .pytest_cache .mypy_cache .ruff_cache
