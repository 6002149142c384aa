# byok: everything a newcomer needs is behind these targets.
SHELL := /bin/bash
UV := $(shell command -v uv 2>/dev/null || echo "python3 -m uv")
RUN := $(UV) run --frozen
PACKAGES := byok_contracts byok_shared byok_client byok_key_vault byok_validator byok_resolver byok_credit_ledger byok_usage_tracker byok_gateway

.PHONY: setup browser run test lint bench docs clean

TS_CLIENT := clients/typescript

SETTINGS_STATIC := services/gateway/src/byok_gateway/settings_page/static
SEAL_JS := $(SETTINGS_STATIC)/seal.js

setup: .venv/.synced $(TS_CLIENT)/dist/.built $(SEAL_JS)

.venv/.synced: pyproject.toml uv.lock contracts/pyproject.toml shared/pyproject.toml client/pyproject.toml $(wildcard services/*/pyproject.toml)
	@$(UV) --version >/dev/null 2>&1 || python3 -m pip install --quiet uv
	$(UV) sync --frozen
	@touch $@

# The TypeScript client's packages (and the AsyncAPI parser the tests use), exactly as
# locked; skipped while node_modules is newer than the lockfile.
$(TS_CLIENT)/node_modules/.installed: $(TS_CLIENT)/package.json $(TS_CLIENT)/package-lock.json
	@command -v npm >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq nodejs npm; }
	cd $(TS_CLIENT) && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

# The built client: dist/ (ESM + types generated from contracts/schemas) and
# dist/browser/seal.js (one self-contained ES module for pages that seal in the browser).
$(TS_CLIENT)/dist/.built: $(TS_CLIENT)/node_modules/.installed $(TS_CLIENT)/tsconfig.json $(TS_CLIENT)/scripts/gen-types.mjs $(wildcard $(TS_CLIENT)/src/*.ts) $(wildcard contracts/schemas/*.json) contracts/error-words.json
	cd $(TS_CLIENT) && npm run --silent build
	@touch $@

# The settings page's sealing: the TypeScript client's sealForConfigure (and @hpke) bundled
# into one browser ES module by esbuild (locked in the client's package-lock.json), served
# by the gateway from its own origin. Rebuilt only when the client's sealing changes.
$(SEAL_JS): $(TS_CLIENT)/src/seal.ts $(TS_CLIENT)/src/base64.ts $(TS_CLIENT)/node_modules/.installed
	cd $(TS_CLIENT) && node_modules/.bin/esbuild src/seal.ts --bundle --format=esm \
	  --platform=browser --target=es2022 --legal-comments=inline --log-level=warning \
	  --outfile=$(CURDIR)/$@

run: setup
	$(RUN) python -m byok_shared.stack

test: setup browser
	$(RUN) pytest $(PYTEST_ARGS)

# The settings page is tested in a real headless Chromium (Debian's package; Playwright drives
# it through executable_path). Installed here when missing; never a silent skip.
CHROMIUM ?= /usr/bin/chromium
browser:
	@if [ ! -x "$(CHROMIUM)" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing Debian's chromium for the browser tests"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else \
	    echo "missing $(CHROMIUM): install Debian's chromium package (apt-get install chromium) to run the settings-page tests" >&2; exit 1; \
	  fi; \
	fi

lint: setup
	$(RUN) ruff check .
	$(RUN) ruff format --check .
	$(RUN) mypy $(addprefix -p ,$(PACKAGES))

bench: setup
	$(RUN) python -m bench $(BENCH_ARGS)

docs: setup
	$(RUN) python -m byok_contracts.schema contracts
	$(RUN) python -m byok_shared.reference contracts/REFERENCE.md
	$(RUN) python -m byok_gateway.openapi contracts/openapi.json

clean:
	rm -rf .venv .byok .mypy_cache .ruff_cache $(TS_CLIENT)/node_modules $(TS_CLIENT)/dist $(SEAL_JS)
