# Two entry points for a fresh machine: `make run` and `make test` (see README.md).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
VENDOR := engine/render/static/vendor

.PHONY: run test lint services install static

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

# htmx from the npm registry at the version pinned in package-lock.json, with its license,
# served from the package's own static files (no CDN).
$(VENDOR)/htmx.min.js: package.json package-lock.json
	command -v npm >/dev/null || bash .ci/install-npm.sh
	npm ci --no-audit --no-fund --ignore-scripts --loglevel=error
	mkdir -p $(VENDOR)
	cp node_modules/htmx.org/dist/htmx.min.js $(VENDOR)/htmx.min.js
	cp node_modules/htmx.org/LICENSE $(VENDOR)/htmx.LICENSE
	touch $@

static: $(VENDOR)/htmx.min.js

install: $(STAMP) static

run: $(STAMP) static
	$(BIN)/gongdan check definitions
	$(BIN)/gongdan demo
	@echo "Open http://127.0.0.1:8000/ and sign in as any user above."
	$(BIN)/gongdan serve --host 127.0.0.1 --port 8000

services:
	bash .ci/services.sh

lint: $(STAMP)
	$(BIN)/ruff check engine tests bench
	$(BIN)/mypy engine

test: $(STAMP) static services lint
	$(BIN)/pytest
