#!/usr/bin/env bash
# Builds the web UI and OnDemand Proxy, then starts it. Until the desktop shell lands, this
# runs the headless server, which serves the UI at its address; arguments are passed to
# `ondemand-proxy serve` (e.g. --demo, --port 0).
set -euo pipefail
cd "$(dirname "$0")/.."
have() { command -v "$1" >/dev/null 2>&1; }
if ! have cargo; then
  echo "Missing: the Rust toolchain (cargo, rustc >= 1.85). Install it with rustup (https://rustup.rs), then run this again." >&2
  exit 1
fi
packages=()
have cc || packages+=(build-essential)
if ! have node || ! have npm; then packages+=(nodejs npm); fi
if ((${#packages[@]})); then
  if [ "$(id -u)" -eq 0 ]; then sudo=""; elif have sudo; then sudo="sudo"; else
    echo "Missing system packages: ${packages[*]}. Install them (apt-get install ${packages[*]}) and run this again." >&2
    exit 1
  fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${packages[@]}" >/dev/null
fi
npm ci --no-audit --no-fund --loglevel=error
npm run --silent ui:build
cargo build --release --locked -p ondemand-proxy --bin ondemand-proxy
exec "${CARGO_TARGET_DIR:-target}/release/ondemand-proxy" serve "$@"
