#!/usr/bin/env bash
# Soak: the release proxy under mixed traffic with faults for a while (10 minutes by default),
# sampled every 10 s before, during and for 200 s after: resident memory, open file
# descriptors, threads, requests in flight and the database's size. Prints the samples as a
# table, draws them to a PNG, and ends with the growth per hour and whether anything leaked
# (what is left once the traffic has stopped and idle connections have expired).
# Not a test: it reports. Loopback only.
# Usage: bench/soak.sh [seconds] [png path]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-600}
png=${2:-${CARGO_TARGET_DIR:-target}/soak.png}

cargo build --release --locked -q -p ondemand-proxy -p fake-ondemand -p loadgen
bin="${CARGO_TARGET_DIR:-target}/release"
source bench/lib.sh

# Faults: one account of three always answers 429 (failover on every third request or so),
# and streams take ~0.5 s (frames 20 ms apart).
"$bin/fake-ondemand" --no-record --frame-delay-ms 20 --fail bad=429:rate_limit_exceeded \
  >"$work/fake.out" 2>"$work/fake.err" &
pids+=($!)
fake=$(wait_line "$work/fake.out" "listening on ")
token="sk-soak-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
admin="soak-admin-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
env API_ACCESS_TOKEN="$token" ADMIN_PASSWORD="$admin" RATE_LIMIT=0 RUST_LOG=warn \
  STREAM_WRITE_TIMEOUT=5 ONDEMAND_BASE_URL="$fake" \
  ONDEMAND_ACCOUNTS='[{"api_key":"ok1"},{"api_key":"ok2"},{"api_key":"bad"}]' \
  "$bin/ondemand-proxy" serve --port 0 --data-dir "$work/data" >"$work/proxy.out" 2>"$work/proxy.err" &
proxy_pid=$!
pids+=($proxy_pid)
proxy=$(wait_line "$work/proxy.out" "listening on ")
echo "soak: proxy $proxy (pid $proxy_pid) in front of $fake for ${secs}s | $(nproc) cores" >&2

samples="$work/samples.tsv"
sample() { # phase
  local rss fds threads inflight db
  rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$proxy_pid/status")
  threads=$(awk '/^Threads:/ {print $2}' "/proc/$proxy_pid/status")
  fds=$(ls "/proc/$proxy_pid/fd" | wc -l)
  inflight=$(curl -s -H "Authorization: Bearer $admin" "$proxy/api/accounts" |
    python3 -c 'import json,sys; print(sum(a.get("in_flight",0) for a in json.load(sys.stdin)["data"]))')
  db=$(du -sk "$work/data" | cut -f1)
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$(date +%s)" "$1" "$rss" "$fds" "$threads" "$inflight" "$db" >>"$samples"
}
# What the descriptors are: sockets, the database's files, the rest.
fd_kinds() { ls -l "/proc/$proxy_pid/fd" | awk 'NR > 1 {print $NF}' | sed -E 's/[0-9]+/N/g; s|.*/||' | sort | uniq -c | tr '\n' ' '; }
start=$(date +%s)
sample idle
idle_fds=$(fd_kinds)
# Traffic, all at once until the time is up.
load() { "$bin/loadgen" --duration "$secs" --target proxy --url "$proxy" --key "$token" "$@" >>"$work/load.jsonl" 2>>"$work/load.err" & pids+=($!); }
load --label sync --rate 150
load --label stream --rate 40 --stream
load --label messages --rate 20 --dialect messages --stream
load --label responses --rate 20 --dialect responses
load --label tools --rate 20 --tools 8
end=$(( $(date +%s) + secs ))
chat='{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"soak a long answer please"}]}'
# Cancels: streams abandoned a moment after they begin.
( while [ "$(date +%s)" -lt "$end" ]; do
    curl -s -o /dev/null --max-time 0.15 -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
      -d "$chat" "$proxy/v1/chat/completions" || true
  done ) & pids+=($!)
# Slow readers: streams read at 200 bytes a second.
( while [ "$(date +%s)" -lt "$end" ]; do
    curl -s -o /dev/null --limit-rate 200 --max-time 8 -H "Authorization: Bearer $token" \
      -H 'Content-Type: application/json' -d "$chat" "$proxy/v1/chat/completions" || true
  done ) & pids+=($!)
# Admin reads, as an open dashboard makes them.
( while [ "$(date +%s)" -lt "$end" ]; do
    for path in /api/stats/overview /api/requests?limit=50 /api/accounts "/api/stats/breakdown?by=model"; do
      curl -s -o /dev/null -H "Authorization: Bearer $admin" "$proxy$path" || true
    done
    sleep 0.5
  done ) & pids+=($!)

while [ "$(date +%s)" -lt "$end" ]; do
  sleep 10
  sample load
done
# The traffic has stopped. Idle upstream connections are kept 90 s (and reaped on a timer of
# the same period), so the samples go on for 200 s more: what is still held then was leaked.
for _ in $(seq 1 20); do
  sleep 10
  sample after
done
echo "descriptors at the end: $(fd_kinds)" >"$work/fds.txt"

echo "descriptors when idle: $idle_fds"
cat "$work/fds.txt"
python3 - "$samples" "$work/load.jsonl" "$start" <<'PY'
import json, sys
rows = [l.split("\t") for l in open(sys.argv[1]).read().split("\n") if l]
start = int(sys.argv[3])
data = [(int(t) - start, phase, int(rss) / 1024, int(fds), int(th), int(inf), int(db) / 1024)
        for t, phase, rss, fds, th, inf, db in rows]
print(f"\n{'t (s)':>6} {'phase':>6} {'RSS MiB':>8} {'fds':>5} {'threads':>7} {'in flight':>9} {'data MiB':>9}")
for t, phase, rss, fds, th, inf, db in data:
    print(f"{t:>6} {phase:>6} {rss:>8.1f} {fds:>5} {th:>7} {inf:>9} {db:>9.1f}")
load = [json.loads(l) for l in open(sys.argv[2]) if l.strip()]
print()
for r in load:
    print(f"{r['label']:10} ok {r['ok']:>7} errors {r['errors']:>5} p50 {r['p50_ms']:>8.2f} ms p99 {r['p99_ms']:>8.2f} ms")
under = [d for d in data if d[1] == "load"]
settled = [d for d in under if d[0] >= 60] or under
idle = data[0]
first, last = settled[0], settled[-1]
hours = max(last[0] - first[0], 1) / 3600
print(f"\ngrowth per hour under load (from {first[0]} s to {last[0]} s): "
      f"RSS {(last[2] - first[2]) / hours:+.1f} MiB/h, fds {(last[3] - first[3]) / hours:+.0f}/h, "
      f"data {(last[6] - first[6]) / hours:+.1f} MiB/h (usage rows: expected)")
after = data[-1]
print(f"idle before: RSS {idle[2]:.1f} MiB, {idle[3]} fds, {idle[4]} threads; end of load: RSS {under[-1][2]:.1f} MiB, "
      f"{under[-1][3]} fds; 200 s after: RSS {after[2]:.1f} MiB, {after[3]} fds, {after[5]} in flight, {after[4]} threads")
half = len(settled) // 2
early = sum(d[2] for d in settled[:half]) / max(half, 1)
late = sum(d[2] for d in settled[half:]) / max(len(settled) - half, 1)
leaks = []
if after[5] != 0:
    leaks.append(f"{after[5]} requests still in flight after the traffic stopped")
# The database's pooled readers (at most 4, each with its file and WAL) stay open once used.
if after[3] > idle[3] + 8:
    leaks.append(f"{after[3] - idle[3]} more file descriptors than before the traffic")
if late > early * 1.10 + 5:
    leaks.append(f"RSS still growing: {early:.1f} MiB on average in the first half, {late:.1f} in the second")
print("leaked: " + ("; ".join(leaks) if leaks else "nothing (in flight back to 0, fds back to idle, RSS flat under load)"))

PY
cp "$samples" "${png%.png}.tsv"
python3 bench/soak_chart.py "$samples" "$png"
