# Two commands do all the set-up on a fresh machine:
#   make demo   install sim (runtime dependencies only) into .venv and run the bundled video scenario
#   make test   install sim with its dev extras into .venv and run the quick tests (not marked slow; < 5 min)
# make test-all runs every test, the slow ones included (what CI runs: .ci/run)
PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python

.PHONY: demo test test-all lint bench clean

$(VENV)/.created:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	touch $@

# runtime only: what `pip install durable-sim` gives a user
$(VENV)/.runtime: pyproject.toml $(VENV)/.created
	$(PY) -m pip install --quiet -e .
	touch $@

# everything for the tests, lint and notebooks
$(VENV)/.dev: pyproject.toml $(VENV)/.created
	$(PY) -m pip install --quiet -e '.[dev]'
	$(PY) -m ipykernel install --prefix $(VENV) --name python3 >/dev/null
	touch $@ $(VENV)/.runtime

demo: $(VENV)/.runtime
	$(VENV)/bin/sim run video --runs 2000 --seed 42 --out results/demo

test: $(VENV)/.dev
	$(PY) -m pytest -q -m "not slow"

test-all: $(VENV)/.dev
	$(PY) -m pytest -q

lint: $(VENV)/.dev
	$(VENV)/bin/ruff check .

bench: $(VENV)/.runtime
	$(PY) benchmarks/bench_engine.py

clean:
	rm -rf $(VENV) results .pytest_cache .hypothesis build dist *.egg-info
