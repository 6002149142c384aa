# byok: everything a newcomer needs is behind these targets.
SHELL := /bin/bash
UV := $(shell command -v uv 2>/dev/null || echo "python3 -m uv")
RUN := $(UV) run --frozen
PACKAGES := byok_contracts byok_shared byok_client byok_key_vault byok_validator byok_resolver byok_credit_ledger byok_usage_tracker byok_gateway

.PHONY: setup run test lint bench docs clean

TS_CLIENT := clients/typescript

setup: .venv/.synced $(TS_CLIENT)/node_modules/.installed

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

run: setup
	$(RUN) python -m byok_shared.stack

test: setup
	$(RUN) pytest $(PYTEST_ARGS)

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
	rm -rf .venv .byok .mypy_cache .ruff_cache $(TS_CLIENT)/node_modules $(TS_CLIENT)/dist
