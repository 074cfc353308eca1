# The book's two commands (see README):
#   make book   — set up, get the data, execute every chapter from scratch in place, build the HTML
#   make test   — set up, get the data, unit tests, nbval over every chapter, a -W build of the book
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
NOTEBOOKS := $(sort $(wildcard chapters/*.ipynb))

# No progress bars in stored outputs or under nbval; fixed hash seed.
export AEVAE_PROGRESS := 0
export PYTHONHASHSEED := 0

.PHONY: book test env data execute html unit nbval browser bench lock clean

book: execute html

test: unit nbval html browser

env: $(VENV)/.installed

$(VENV)/.installed: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

data: env
	$(BIN)/python -m aevae.data

execute: env data
	$(BIN)/python tools/execute.py $(NOTEBOOKS)

html: env
	rm -rf _build/html
	$(BIN)/jupyter-book build . -W --keep-going

unit: env data
	$(BIN)/python -m pytest tests -m "not browser"

nbval: env data
	AEVAE_RESULTS=check $(BIN)/python -m pytest --nbval --nbval-current-env --nbval-cell-timeout=900 -p no:cacheprovider $(NOTEBOOKS)

browser: env html
	$(BIN)/python -m pytest tests -m browser

bench: env data
	$(BIN)/python benchmarks/run.py

lock: env
	$(BIN)/python -m pip freeze --exclude-editable | sed 's/^torch==.*/torch==2.13.0/' > requirements.txt

clean:
	rm -rf _build artifacts .pytest_cache
