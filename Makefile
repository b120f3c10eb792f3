# idp-harness: the commands a new user and CI run. See README.md.
.PHONY: setup build run sim test bench fmt lint clean

setup:
	@./scripts/setup.sh

build:
	cargo build --workspace

# The main job: every scenario on the simulator, a live view, a summary table, and JUnit and
# JSON reports under target/idp-harness/<run>/. The set-up's kubectl is on PATH for command steps.
run: setup
	PATH="$(CURDIR)/.venv/bin:$$PATH" cargo run -q -p idp-harness -- run

# The simulator's API server in the foreground, for kubectl.
sim: setup
	cargo run -q -p idp-harness -- sim up

# Set-up, then every test of the workspace.
test: setup
	cargo nextest run --workspace

# Benchmarks (release build); they print figures and assert no timings.
bench: setup
	cargo bench -p sim --bench apiserver
	cargo bench -p sim --bench gatekeeper
	cargo bench -p sim --bench flux
	cargo bench -p sim --bench iam
	cargo bench -p sim --bench csi
	cargo bench -p sim --bench ack
	cargo bench -p idp-harness --bench engine

fmt:
	cargo fmt --all

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

clean:
	cargo clean
	rm -rf .venv
