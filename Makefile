# Two entry points for a fresh machine: `make run` and `make test` (see README.md).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lint services install

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/gongdan check definitions
	$(BIN)/gongdan demo
	@echo "Open http://127.0.0.1:8000/ and sign in as any user above."
	$(BIN)/gongdan serve --host 127.0.0.1 --port 8000

services:
	bash .ci/services.sh

lint: $(STAMP)
	$(BIN)/ruff check engine tests bench
	$(BIN)/mypy engine

test: $(STAMP) services lint
	$(BIN)/pytest
