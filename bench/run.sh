#!/usr/bin/env bash
# Proxy benchmark: the release proxy in front of the fake upstream, against the same traffic
# sent straight to the fake in the same run. Prints one JSON line per scenario and a table of
# the proxy's added latency. Loopback only. Usage: bench/run.sh [seconds per scenario]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}

cargo build --release --locked -q -p ondemand-proxy -p fake-ondemand -p loadgen
bin="${CARGO_TARGET_DIR:-target}/release"
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

wait_line() { # file, prefix -> rest of the line
  for _ in $(seq 1 200); do
    line=$(grep -m1 "$2" "$1" || true)
    [ -n "$line" ] && { echo "${line#*"$2"}"; return; }
    sleep 0.05
  done
  echo "timed out waiting for '$2' in $1" >&2; exit 1
}

# Stream frames 50 ms apart: each benchmark stream lasts ~0.8 s, like a short real answer.
"$bin/fake-ondemand" --no-record --key bench-key --frame-delay-ms 50 >"$work/fake.out" 2>"$work/fake.err" &
pids+=($!)
fake=$(wait_line "$work/fake.out" "listening on ")
token="sk-bench-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
API_ACCESS_TOKEN="$token" RATE_LIMIT=0 RUST_LOG=warn \
  ONDEMAND_BASE_URL="$fake" ONDEMAND_ACCOUNTS='[{"api_key":"bench-key","name":"bench"}]' \
  "$bin/ondemand-proxy" serve --port 0 --data-dir "$work/data" >"$work/proxy.out" 2>"$work/proxy.err" &
pids+=($!)
proxy=$(wait_line "$work/proxy.out" "listening on ")
echo "fake: $fake  proxy: $proxy  ($(nproc) cores, ${secs}s per scenario)" >&2

results="$work/results.jsonl"
run() { # label, then loadgen arguments
  local label=$1; shift
  "$bin/loadgen" --duration "$secs" --label "$label" "$@" | tee -a "$results"
}
for rate in 500 1000; do
  run "direct sync @${rate}/s" --target direct --url "$fake" --key bench-key --rate "$rate"
  run "proxy  sync @${rate}/s" --target proxy --url "$proxy" --key "$token" --rate "$rate"
done
# ~1,250 new streams/s of ~0.8 s each keeps about 1,000 streams open at once (max_in_flight).
run "direct stream ~1000 open" --target direct --url "$fake" --key bench-key --stream --rate 1250
run "proxy  stream ~1000 open" --target proxy --url "$proxy" --key "$token" --stream --rate 1250

python3 - "$results" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
print()
print(f"{'scenario':26} {'ok':>8} {'err':>5} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'ttft p50':>9} {'ttft p99':>9} {'open':>6}")
for r in rows:
    print(f"{r['label']:26} {r['ok']:>8} {r['errors']:>5} {r['rps']:>8.0f} {r['p50_ms']:>8.2f} {r['p99_ms']:>8.2f} {r['ttft_p50_ms']:>9.2f} {r['ttft_p99_ms']:>9.2f} {r['max_in_flight']:>6}")
print()
for direct, proxy in zip(rows[0::2], rows[1::2]):
    name = proxy['label'].replace('proxy', '').strip()
    print(f"added by the proxy, {name:18} p50 {proxy['p50_ms'] - direct['p50_ms']:+.2f} ms   p99 {proxy['p99_ms'] - direct['p99_ms']:+.2f} ms"
          f"   first text p99 {proxy['ttft_p99_ms'] - direct['ttft_p99_ms']:+.2f} ms")
PY
