# The README's two commands are `make all` (install + regenerate figures) and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PROFILE ?= quick

.PHONY: all setup reproduce report verify test lint sync-notebooks bench clean

all: reproduce
	$(BIN)/topotta-lite report --profile $(PROFILE)

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade --quiet pip
	$(BIN)/pip install --quiet -e ".[dev]"
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 > /dev/null
	touch $@

reproduce: setup
	$(BIN)/topotta-lite reproduce --profile $(PROFILE)

# the executed notebooks of the last run as a static site: build/site/$(PROFILE)/index.html
report: setup
	$(BIN)/topotta-lite report --profile $(PROFILE)

# the last run's fresh tables against the published ones, number by number (build/$(PROFILE)/verify.json)
verify: setup
	$(BIN)/topotta-lite verify --profile $(PROFILE)

# the suite on one process per core (at most 4), a finished worker taking tests queued for
# the other (a plain `pytest` still runs it in this process)
test: setup
	$(BIN)/python -m pytest -q -n auto --maxprocesses 4 --dist worksteal

lint: setup
	$(BIN)/ruff check topotta_lite tests benchmarks notebooks

bench: setup
	$(BIN)/python benchmarks/bench_persistence.py
	$(BIN)/python benchmarks/bench_operators.py

clean:
	rm -rf build .pytest_cache

# --- notebooks open as notebooks (course WP; issue 21 item 11) -----------------------------------
# `make setup` also makes the jupytext notebook JupyterLab's default viewer of .py/.md files, in
# the environment's own config dir ($(VENV)/etc/jupyter/labconfig), never in the user's home;
# `make lab` starts JupyterLab on notebooks/ (a double-click opens a notebook as a notebook).
LABCONFIG := $(VENV)/etc/jupyter/labconfig/default_setting_overrides.json
setup: $(LABCONFIG)
$(LABCONFIG): $(VENV)/.installed
	$(BIN)/jupytext-config --settings-file $@ set-default-viewer
.PHONY: lab
lab: setup
	$(BIN)/jupyter lab notebooks/
