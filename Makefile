# Turnout's commands. Every target uses the virtualenv at .venv.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Go-built binaries (control plane, helm, Go peers) are cached outside the repo, by version.
export TURNOUT_CACHE ?= $(HOME)/.cache/turnout

.PHONY: help venv tools lint types contracts crds test test-fast demo bench bench-scale mutation clean

help:
	@echo "make demo   - the operator on a local control plane with the example plugin and a sample Router"
	@echo "make test   - lint, types, import contracts and every test tier"
	@echo "make bench  - benchmarks (on demand)"
	@echo "make bench-scale - 100, then 1,000 Routers at once and a 10-minute idle window (about an hour)"
	@echo "make mutation [MODULES='a.py b.py'] - mutation testing of pure modules (on demand)"
	@echo "make tools  - build or reuse the Go binaries (control plane, helm, Go peers)"
	@echo "make crds   - regenerate crds/ from the models, and the chart's copy in manifests/crds/"

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

tools:
	./tools/build.sh

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

types: $(STAMP)
	$(VENV)/bin/mypy -p plugin_host -p turnout_operator -p turnout_router -p turnout_kubectl
	$(VENV)/bin/mypy examples/plugins/hardcoded/hardcoded tests/substrate tests/chaos tests/reconcile devenv tools/mutation.py \
		tests/gob_reference.py tests/allocation_reference.py tests/failures.py

contracts: $(STAMP)
	$(VENV)/bin/lint-imports

# The CRDs are generated from the pydantic models into crds/ (`kubectl apply --server-side -f crds/`);
# the chart carries a byte-identical copy (Helm installs only what is inside the chart).
# Unit tests fail when crds/ drifts from the models or the chart's copy from crds/.
crds: $(STAMP)
	$(PY) -m turnout_operator.api.crd > crds/routers.turnout.dev.yaml
	$(PY) -m turnout_operator.api.engine_crd > crds/experimentengines.turnout.dev.yaml
	$(PY) -m turnout_operator.api.routerversion_crd > crds/routerversions.turnout.dev.yaml
	rm -f manifests/crds/*.yaml
	cp crds/*.yaml manifests/crds/

test: lint types contracts tools
	$(VENV)/bin/pytest tests

# Pure tests only: no servers, no Go peers. For a quick loop while editing.
test-fast: $(STAMP)
	$(VENV)/bin/pytest -m unit tests

demo: $(STAMP) tools
	PYTHONPATH=. $(PY) examples/demo.py

bench: $(STAMP) tools
	PYTHONPATH=. $(PY) -m tests.bench

# The scale benchmark at both sizes (docs/scale.md); `make bench` runs only the quick one.
bench-scale: $(STAMP) tools
	PYTHONPATH=. $(PY) -m tests.bench scale --routers 100
	PYTHONPATH=. $(PY) -m tests.bench scale --routers 1000 --idle-seconds 600

# Mutation testing (mutmut) over the unit tests, on demand like the benchmarks.
# MODULES: module files to mutate (default: the pure codecs and the hardcoded
# example's allocation and config code). See docs/testing.md.
mutation: $(STAMP)
	$(PY) tools/mutation.py $(MODULES)

clean:
	rm -rf $(VENV) build dist *.egg-info
