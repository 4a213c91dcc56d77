#!/usr/bin/env bash
# Builds the web UI and the OnDemand Proxy desktop app, then starts it: a window with the
# dashboard, a tray icon, and the proxy on http://127.0.0.1:8787/v1. On Debian/Ubuntu it
# installs what the build needs (as root, or with sudo) or names it.
#
#   scripts/run.sh                     the desktop app
#   scripts/run.sh --headless [ARGS]   the same proxy without a window (`ondemand-proxy serve
#                                      ARGS`, e.g. --demo, --port 0): open its address in a
#                                      browser for the dashboard
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh

headless=false
if [ "${1:-}" = "--headless" ]; then
  headless=true
  shift
fi
require_rust
want_build_packages
install_packages
require_node

npm ci --no-audit --no-fund --loglevel=error
npm run --silent ui:build
target=${CARGO_TARGET_DIR:-target}
if $headless; then
  cargo build --release --locked -p ondemand-proxy --bin ondemand-proxy
  exec "$target/release/ondemand-proxy" serve "$@"
fi
if [ -z "${DISPLAY:-}" ] && [ -z "${WAYLAND_DISPLAY:-}" ]; then
  echo "No display: the desktop app needs a graphical session (DISPLAY or WAYLAND_DISPLAY is unset)." >&2
  echo "Run the proxy without a window instead: scripts/run.sh --headless" >&2
  exit 1
fi
cargo build --release --locked -p ondemand-proxy-desktop --features custom-protocol
exec "$target/release/ondemand-proxy-desktop" "$@"
