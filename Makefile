# The two commands a newcomer needs: `make run` (the embedded default, video to report) and
# `make test` (the suite). Both create the project virtualenv (.venv) when needed.
VENV ?= .venv
PYTHON ?= python3
# Versions come from constraints.txt (the one place that pins them). The CPU build on machines
# without CUDA is whatever pip resolves for the pinned torch there; override e.g.
# TORCH="torch --index-url <cuda index>" for a GPU build (the pin still applies).
CONSTRAINTS := constraints.txt
TORCH ?= torch
PLUGIN := plugins/snakemake-executor-plugin-ovh
BIN := $(CURDIR)/$(VENV)/bin
export PATH := $(BIN):$(PATH)
# A flaky network (a CI runner's download cut mid-wheel) should cost a retry, not the run: pip
# retries connections and resumes cut downloads; the install itself is tried up to three times.
export PIP_RETRIES ?= 10
export PIP_RESUME_RETRIES ?= 10
export PIP_TIMEOUT ?= 60
retry3 = for try in 1 2 3; do $(1) && break; [ $$try -lt 3 ] || exit 1; \
  echo "failed (try $$try of 3), retrying in 10 s" >&2; sleep 10; done

.PHONY: run test lint format browser gltf-validator clean

$(VENV)/.installed: pyproject.toml $(CONSTRAINTS) $(wildcard $(PLUGIN)/pyproject.toml)
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "video2mesh needs Python >= 3.11"'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(call retry3,$(BIN)/python -m pip install -q --upgrade pip)
	$(BIN)/python -m pip show -q torch >/dev/null 2>&1 || { $(call retry3,$(BIN)/python -m pip install -q -c $(CONSTRAINTS) $(TORCH)); }
	$(call retry3,$(BIN)/python -m pip install -q -c $(CONSTRAINTS) -e ".[dev]" $(if $(wildcard $(PLUGIN)/pyproject.toml),-e $(PLUGIN)))
	touch $@

run: $(VENV)/.installed
	snakemake --cores all
	snakemake --report results/report.html

test: $(VENV)/.installed browser gltf-validator
	pytest

# Headless Chromium and its driver for the report test (Debian's packages; root or sudo).
browser:
	@{ command -v chromium && command -v chromedriver; } >/dev/null 2>&1 || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium chromium-driver >/dev/null; }

# The Khronos glTF validator (npm) for the GLB test, in the git-ignored .tools/.
GLTF_VALIDATOR := .tools/node_modules/gltf-validator/package.json
gltf-validator: $(GLTF_VALIDATOR)
$(GLTF_VALIDATOR):
	@command -v npm >/dev/null 2>&1 || { SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq nodejs npm >/dev/null; }
	npm install --silent --no-audit --no-fund --prefix .tools gltf-validator@2.0.0-dev.3.10

lint: $(VENV)/.installed
	ruff check .
	ruff format --check src tests
	snakefmt --check Snakefile rules
	snakemake --lint

format: $(VENV)/.installed
	ruff format src tests
	snakefmt Snakefile rules

clean:
	rm -rf results .snakemake
