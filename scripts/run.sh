#!/usr/bin/env bash
# Builds and starts OnDemand Proxy. Until the desktop shell lands, this runs the headless
# server; arguments are passed to `ondemand-proxy serve` (e.g. --demo, --port 0).
set -euo pipefail
cd "$(dirname "$0")/.."
have() { command -v "$1" >/dev/null 2>&1; }
if ! have cargo; then
  echo "Missing: the Rust toolchain (cargo, rustc >= 1.85). Install it with rustup (https://rustup.rs), then run this again." >&2
  exit 1
fi
if ! have cc; then
  if [ "$(id -u)" -eq 0 ]; then apt-get update -qq && apt-get install -y -qq build-essential >/dev/null
  elif have sudo; then sudo apt-get update -qq && sudo apt-get install -y -qq build-essential >/dev/null
  else echo "Missing: a C compiler. Install build-essential (apt-get install build-essential)." >&2; exit 1; fi
fi
cargo build --release --locked -p ondemand-proxy --bin ondemand-proxy
exec "${CARGO_TARGET_DIR:-target}/release/ondemand-proxy" serve "$@"
