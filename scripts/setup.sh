#!/usr/bin/env bash
# make setup: everything a fresh machine needs before `make run` or `make test`.
#   1. the Rust toolchain (rustup's cargo, rustc >= the workspace's rust-version) and cargo-nextest;
#   2. .venv with the pinned Python packages of requirements.txt (kubectl with kustomize, moto);
#   3. a build of the workspace and its tests.
# Idempotent: each step is skipped when nothing it depends on changed. Progress goes to stderr.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '[setup] %s\n' "$*" >&2; }
die() { printf '[setup] error: %s\n' "$*" >&2; exit 2; }

# 1. Toolchain.
command -v cargo >/dev/null 2>&1 || die "cargo not found: install Rust with rustup (https://rustup.rs) and reopen the shell"
need=$(sed -n 's/^rust-version *= *"\(.*\)"/\1/p' Cargo.toml | head -n1)
have=$(rustc --version | awk '{print $2}')
if [ "$(printf '%s\n%s\n' "$need" "$have" | sort -V | head -n1)" != "$need" ]; then
  die "rustc $have is older than the required $need: run 'rustup update'"
fi
if ! cargo nextest --version >/dev/null 2>&1; then
  say "cargo-nextest missing: installing it with cargo install (a few minutes on 2 cores)"
  cargo install --locked cargo-nextest >&2 || die "could not install cargo-nextest"
fi
say "rust $have, $(cargo nextest --version 2>/dev/null | head -n1)"

# 2. Python venv with pinned packages.
python=${PYTHON:-python3}
command -v "$python" >/dev/null 2>&1 || die "$python not found: install Python 3.11 or newer (or set PYTHON=...)"
"$python" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)' || die "$python is older than 3.10"
stamp=".venv/.requirements.sha256"
want=$(sha256sum requirements.txt | awk '{print $1}')
if [ ! -x .venv/bin/python ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  say "creating .venv and installing requirements.txt (kubectl, kustomize, moto)"
  [ -x .venv/bin/python ] || "$python" -m venv .venv || die "python venv failed (on Debian: apt-get install python3-venv)"
  .venv/bin/pip install --disable-pip-version-check -q -r requirements.txt >&2 || die "pip install -r requirements.txt failed"
  echo "$want" > "$stamp"
else
  say ".venv is up to date"
fi
.venv/bin/kubectl version --client >/dev/null 2>&1 || die ".venv/bin/kubectl does not run"
say "$(.venv/bin/kubectl version --client 2>/dev/null | head -n1), moto $(.venv/bin/python -c 'import moto; print(moto.__version__)')"

# 3. Build.
say "building the workspace and its tests"
cargo build --workspace --tests --bins >&2 || die "cargo build failed"
say "ready"
