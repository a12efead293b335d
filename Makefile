# AsyncAction operator: developer entry points. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
LOCAL := .local
PYTEST_ARGS ?=
KIND_CLUSTER ?= asyncaction
CHART := charts/asyncaction

.PHONY: help install kube-binaries node-setup images lint format typecheck crds crds-check \
        cli-docs test test-unit chart chart-check tools up down status demo logs clean bench \
        kind-up e2e kind-down mutation

help: ## List the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP) ## Create .venv and install the project with dev tools

# Host tools the tests run: Lua 5.1 (Argo CD's dialect) and 5.4 run the chart's health check;
# Node.js (Debian's nodejs, command node) runs the Node job client's tests; skopeo and
# docker-registry check the registry step of docs/jobs.md; Debian's prometheus (with
# promtool) checks the metrics, alert rules and dashboard.
TOOLS := lua5.1 lua5.4 skopeo docker-registry prometheus
tools: ## Install the host tools the tests use (apt-get: root or sudo)
	@missing=$$(for t in $(TOOLS); do command -v $$t >/dev/null || echo $$t; done; \
	  command -v node >/dev/null || echo nodejs); \
	if [ -n "$$missing" ]; then sudo=; [ "$$(id -u)" -eq 0 ] || sudo=sudo; \
	  $$sudo apt-get update -q && DEBIAN_FRONTEND=noninteractive \
	  $$sudo apt-get install -y -q --no-install-recommends $$missing; fi

kube-binaries: $(STAMP) ## Find or build etcd/kube-apiserver/kube-controller-manager (cached in ~/.cache)
	$(PY) -m asyncaction_testbed.binaries

node-setup: $(STAMP) ## Real node: install containerd, runc, CNI, iptables, dnsmasq, mmdebstrap; build kubelet & co (root)
	@if [ "$$(id -u)" = 0 ] || command -v sudo >/dev/null; then \
	  { bash testbed/asyncaction_testbed/scripts/setup-node.sh && $(PY) -m asyncaction_testbed.binaries --node >/dev/null; } \
	  || echo "[asyncaction] real node setup failed: pods will run on the node agent"; \
	else echo "[asyncaction] not root: skipping the real node's setup (the node agent plays the node)"; fi

images: $(STAMP) ## Build the operator+hook and job images locally (cached in ~/.cache/asyncaction/images)
	$(PY) -m asyncaction_testbed.images build

lint: $(STAMP) ## ruff lint and format check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP) ## Apply ruff fixes and formatting
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

typecheck: $(STAMP) ## mypy --strict over the sources, tests and benchmarks
	$(VENV)/bin/mypy operator jobhook client testbed tests bench

crds: $(STAMP) ## Regenerate crds/ (and the chart's copy) from the pydantic models
	$(PY) -m asyncaction.api.crds write crds $(CHART)/files/crds

crds-check: $(STAMP) ## Fail when crds/ (or the chart's copy) drifted from the models
	$(PY) -m asyncaction.api.crds check crds $(CHART)/files/crds

cli-docs: $(STAMP) ## Regenerate docs/cli.md from the CLI's parser
	$(PY) -m asyncaction_cli.reference write docs/cli.md

# The chart renders its CRDs as templates from files/crds (Helm's crds/ folder never
# upgrades them) and its RBAC from files/rbac.yaml, both generated from the code.
chart: crds ## Regenerate the chart's generated files (CRDs, RBAC rules) from the code
	$(PY) -m asyncaction.chart write $(CHART)/files

chart-check: crds-check ## Fail when the chart's generated files drifted from the code
	$(PY) -m asyncaction.chart check $(CHART)/files

# Not part of `make test`: minutes of CPU. MUTATION_ARGS picks modules (substrings of their
# paths) and options, e.g. MUTATION_ARGS="keys.py tenancy --jobs 1"; see docs/testing.md.
MUTATION_ARGS ?=
mutation: $(STAMP) ## Mutation testing of the pure modules against their own unit tests (tests/mutation.toml)
	nice -n 10 $(PY) -m asyncaction_testbed.mutation $(MUTATION_ARGS)

test-unit: $(STAMP) tools ## Fast unit tests only (no cluster, no S3)
	$(PY) -m pytest tests/unit -q $(PYTEST_ARGS)

test: lint typecheck chart-check tools kube-binaries node-setup ## Everything: lint, types, unit, integration and e2e tests on the local test bed
	$(PY) -m pytest -q $(PYTEST_ARGS)

up: $(STAMP) kube-binaries node-setup ## Start control plane, S3, the real node (or node agent), operator and hook (.local/)
	$(PY) -m asyncaction_testbed.cli up --state $(LOCAL) $(if $(PROMETHEUS),--prometheus)

down: ## Stop everything `make up` started (data in .local/ is kept)
	@if [ -x $(PY) ]; then $(PY) -m asyncaction_testbed.cli down --state $(LOCAL); fi

status: $(STAMP) ## Show what `make up` runs
	$(PY) -m asyncaction_testbed.cli status --state $(LOCAL)

demo: up ## Run the example actions end to end and print their phases
	$(PY) -m asyncaction_testbed.cli demo --state $(LOCAL)

logs: ## Tail the logs of the local processes
	tail -n 50 $(LOCAL)/logs/*.log

clean: down ## Stop everything and remove .local/ and build leftovers
	rm -rf $(LOCAL) build dist .pytest_cache .mypy_cache .ruff_cache
	find . -path ./.venv -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +

bench: $(STAMP) ## Run the benchmarks under bench/ and print their figures
	@for b in bench/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

# For users with Docker: the same end-to-end tests on a kind cluster (real kubelet).
kind-up: ## (Docker) create a kind cluster and install the CRDs
	kind create cluster --name $(KIND_CLUSTER) --kubeconfig $(LOCAL)/kind-kubeconfig
	kubectl --kubeconfig $(LOCAL)/kind-kubeconfig apply -f crds/

e2e: $(STAMP) ## (Docker) run the integration and e2e tests against the kind cluster
	ASYNCACTION_TEST_KUBECONFIG=$(LOCAL)/kind-kubeconfig $(PY) -m pytest tests/integration tests/e2e -q $(PYTEST_ARGS)

kind-down: ## (Docker) delete the kind cluster
	kind delete cluster --name $(KIND_CLUSTER)
