# idp-harness: the commands a new user and CI run. See README.md.
.PHONY: setup build run sim test bench fmt lint clean localstack-setup nightly kind-up kind-down

setup:
	@./scripts/setup.sh

build:
	cargo build --workspace

# The binary the set-up builds. Built with the tests, its crates have the tests' dev features;
# `cargo run -p idp-harness` would build them once more without (about two minutes).
IDP := $(or $(CARGO_TARGET_DIR),$(CURDIR)/target)/debug/idp-harness

# The main job: every scenario on the simulator, a live view, a summary table, and JUnit and
# JSON reports under target/idp-harness/<run>/. The set-up's kubectl is on PATH for command steps.
run: setup
	PATH="$(CURDIR)/.venv/bin:$$PATH" "$(IDP)" run

# The simulator's API server in the foreground, for kubectl.
sim: setup
	"$(IDP)" sim up

# Set-up, then every test of the workspace.
test: setup
	cargo nextest run --workspace

# Benchmarks (release build); they print figures and assert no timings. The last one runs the
# example suite and prints every figure in one table.
BENCH_FIGURES := $(CURDIR)/target/bench-figures.jsonl
bench: setup
	@rm -f $(BENCH_FIGURES)
	IDP_HARNESS_BENCH_FIGURES=$(BENCH_FIGURES) cargo bench -p sim --bench apiserver
	IDP_HARNESS_BENCH_FIGURES=$(BENCH_FIGURES) cargo bench -p sim --bench gatekeeper
	IDP_HARNESS_BENCH_FIGURES=$(BENCH_FIGURES) cargo bench -p sim --bench flux
	IDP_HARNESS_BENCH_FIGURES=$(BENCH_FIGURES) cargo bench -p sim --bench iam
	IDP_HARNESS_BENCH_FIGURES=$(BENCH_FIGURES) cargo bench -p sim --bench csi
	IDP_HARNESS_BENCH_FIGURES=$(BENCH_FIGURES) cargo bench -p sim --bench ack
	IDP_HARNESS_BENCH_FIGURES=$(BENCH_FIGURES) cargo bench -p idp-harness --bench engine
	IDP_HARNESS_BENCH_FIGURES=$(BENCH_FIGURES) cargo bench -p idp-harness --bench suite

# Optional (about 70 s and 500 MB): LocalStack as a host process for `--aws localstack`, in
# localstack/.venv from the fully pinned localstack/requirements.txt. Needs Python 3.11
# (LOCALSTACK_PYTHON=...); redone only when the requirements change.
LOCALSTACK_PYTHON ?= python3.11
localstack-setup:
	@command -v $(LOCALSTACK_PYTHON) >/dev/null 2>&1 || { echo "[localstack-setup] error: $(LOCALSTACK_PYTHON) not found: install Python 3.11 or set LOCALSTACK_PYTHON=..." >&2; exit 2; }
	@$(LOCALSTACK_PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else 1)' || { echo "[localstack-setup] error: $(LOCALSTACK_PYTHON) is not Python 3.11 (the pins were measured on 3.11)" >&2; exit 2; }
	@want=$$(sha256sum localstack/requirements.txt | awk '{print $$1}'); \
	if [ -x localstack/.venv/bin/python ] && [ "$$(cat localstack/.venv/.requirements.sha256 2>/dev/null)" = "$$want" ]; then \
	  echo "[localstack-setup] localstack/.venv is up to date" >&2; \
	else \
	  echo "[localstack-setup] creating localstack/.venv and installing localstack/requirements.txt" >&2; \
	  { [ -x localstack/.venv/bin/python ] || $(LOCALSTACK_PYTHON) -m venv localstack/.venv; } && \
	  localstack/.venv/bin/pip install --disable-pip-version-check -q -r localstack/requirements.txt >&2 && \
	  echo "$$want" > localstack/.venv/.requirements.sha256 || { echo "[localstack-setup] error: pip install failed" >&2; exit 2; }; \
	fi
	@cd localstack && .venv/bin/python -c 'import localstack.runtime.main, localstack.constants as c; print("[localstack-setup] localstack-core", c.VERSION, "ready")' >&2

# The kind backend (docs/kind.md): a kind cluster with the real platform and an AWS emulator.
# Needs Docker, kind, helm and kubectl. `make nightly` is what the nightly workflow runs: bring the
# cluster up, run the scenarios and the test suite against it, then tear it down (KEEP=1 keeps it);
# also the simulator scenarios of scenarios/aws/ (IAM and STS) on LocalStack in Docker.
KEEP ?= 0
kind-up: setup
	PATH="$(CURDIR)/.venv/bin:$$PATH" "$(IDP)" kind up

kind-down:
	cargo run -q -p idp-harness -- kind down

nightly: setup
	@PATH="$(CURDIR)/.venv/bin:$$PATH"; export PATH; status=0; \
	"$(IDP)" kind up $(if $(filter 1,$(KEEP)),--keep,) || status=$$?; \
	if [ $$status -eq 0 ]; then \
	  "$(IDP)" run --backend kind || status=$$?; \
	  IDP_HARNESS_BACKEND=kind cargo nextest run -p idp-harness --test scenarios --test-threads 1 || status=$$?; \
	  cargo nextest run -p idp-harness --test kind_e2e || status=$$?; \
	fi; \
	"$(IDP)" run --aws localstack-container scenarios/aws || status=$$?; \
	if [ "$(KEEP)" != "1" ]; then "$(IDP)" kind down || true; \
	else echo "[nightly] KEEP=1: cluster left up (make kind-down removes it)" >&2; fi; \
	exit $$status

fmt:
	cargo fmt --all

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

clean:
	cargo clean
	rm -rf .venv
