# idp-harness: the commands a new user and CI run. See README.md.
.PHONY: setup build run test bench fmt lint clean

setup:
	@./scripts/setup.sh

build:
	cargo build --workspace

# The main job. Until the scenario runner lands, it starts the simulator's API server in the
# foreground and prints how to point kubectl at it.
run: setup
	cargo run -q -p idp-harness -- sim up

# Set-up, then every test of the workspace.
test: setup
	cargo nextest run --workspace

# Benchmarks (release build); they print figures and assert no timings.
bench: setup
	cargo bench -p sim --bench apiserver

fmt:
	cargo fmt --all

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

clean:
	cargo clean
	rm -rf .venv
