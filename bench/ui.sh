#!/usr/bin/env bash
# The web UI's figures: dashboard load on a database of 10 million usage rows, and the page's
# responsiveness during a minute-long burst of 1,000 requests/s (the release binary in demo
# mode, on loopback), plus the bundle's gzipped size.
# Usage: bench/ui.sh [rows] [burst seconds]
set -euo pipefail
cd "$(dirname "$0")/.."
rows=${1:-10000000}
burst=${2:-60}

npm ci --no-audit --no-fund --loglevel=error
npm run --silent ui:build
cargo build --release --locked -q -p ondemand-proxy -p loadgen -p storebench
bin="${CARGO_TARGET_DIR:-target}/release"
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

echo "bundle (gzip -9): $(find ui/dist -type f \( -name '*.js' -o -name '*.css' -o -name '*.html' \) -exec gzip -9 -c {} \; | wc -c | awk '{printf "%.0f KB", $1/1024}') in all; first page: $(for f in ui/dist/index.html $(grep -o 'assets/[^"]*' ui/dist/index.html | sed 's|^|ui/dist/|'); do gzip -9 -c "$f"; done | wc -c | awk '{printf "%.0f KB", $1/1024}')"

mkdir -p "$work/data"
"$bin/storebench" --fill "$work/data/ondemand-proxy.db" --rows "$rows"

admin="bench-admin-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
token="sk-bench-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
ADMIN_PASSWORD="$admin" API_ACCESS_TOKEN="$token" RATE_LIMIT=0 MAX_CONCURRENT_UPSTREAM=0 RUST_LOG=warn \
  "$bin/ondemand-proxy" serve --demo --port 0 --data-dir "$work/data" >"$work/out" 2>"$work/err" &
pids+=($!)
for _ in $(seq 1 100); do grep -q "listening on" "$work/out" && break; sleep 0.1; done
base=$(sed -n 's/^OnDemand Proxy listening on //p' "$work/out")
echo "proxy at $base with $rows usage rows" >&2

node bench/ui_perf.mjs "$base" "$admin" 0
"$bin/loadgen" --duration "$burst" --label "burst @1000/s" --target proxy --url "$base" --key "$token" --rate 1000 &
pids+=($!)
node bench/ui_perf.mjs "$base" "$admin" "$((burst - 5))"
wait "${pids[-1]}"
