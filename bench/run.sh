#!/usr/bin/env bash
# Proxy benchmarks: the release proxy in front of the fake upstream, compared in the same run
# with the same traffic sent straight to the fake, with a failing account, and in reuse mode.
# Prints one JSON line per scenario, then tables. Loopback only.
# Usage: bench/run.sh [seconds per scenario] [group…]
# Groups: core (the proxy against the fake, failover, conversations), usage, tools, cleanup,
# dialects, store, scale (saturation and 5,000 streams against direct, memory, CPU per
# request), metrics (Prometheus counting on vs off), tls (saturation and 5,000 streams over
# HTTPS with HTTP/2 upstream); all of them when none is named.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
shift || true
groups=" ${*:-core usage tools cleanup dialects store scale metrics tls} "
want() { [[ $groups == *" $1 "* ]]; }

cargo build --release --locked -q -p ondemand-proxy -p fake-ondemand -p loadgen -p storebench
bin="${CARGO_TARGET_DIR:-target}/release"
source bench/lib.sh

# Stream frames 50 ms apart: a benchmark stream lasts ~0.8 s, like a short real answer.
# Key `bad` answers every call with 429, for the failover scenario.
"$bin/fake-ondemand" --no-record --frame-delay-ms 50 --fail bad=429:rate_limit_exceeded \
  >"$work/fake.out" 2>"$work/fake.err" &
fake_pid=$!
pids+=($fake_pid)
fake=$(wait_line "$work/fake.out" "listening on ")
token="sk-bench-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"

start_proxy() { # name, accounts JSON, extra env...
  local name=$1 accounts=$2; shift 2
  env API_ACCESS_TOKEN="$token" RATE_LIMIT=0 MAX_CONCURRENT_UPSTREAM=0 RUST_LOG=warn \
    ONDEMAND_BASE_URL="$fake" ONDEMAND_ACCOUNTS="$accounts" "$@" \
    "$bin/ondemand-proxy" serve --port 0 --data-dir "$work/data-$name" >"$work/$name.out" 2>"$work/$name.err" &
  echo $! >>"$work/pids"
  wait_line "$work/$name.out" "listening on "
}
healthy=$(start_proxy healthy '[{"api_key":"ok1"},{"api_key":"ok2"},{"api_key":"ok3"}]')
failing=$(start_proxy failing '[{"api_key":"ok1"},{"api_key":"ok2"},{"api_key":"bad"}]')
reusing=$(start_proxy reusing '[{"api_key":"ok1"},{"api_key":"ok2"},{"api_key":"ok3"}]' SESSION_MODE=reuse)
unlogged=$(start_proxy unlogged '[{"api_key":"ok1"},{"api_key":"ok2"},{"api_key":"ok3"}]' RECORD_USAGE=false)
kept=$(start_proxy kept '[{"api_key":"ok1"},{"api_key":"ok2"},{"api_key":"ok3"}]' DELETE_SESSIONS=false)
echo "fake $fake | proxies: healthy $healthy, failing $failing, reuse $reusing, unlogged $unlogged, no session cleanup $kept | $(nproc) cores, ${secs}s per scenario" >&2

results="$work/results.jsonl"
run() { # label, then loadgen arguments
  local label=$1; shift
  "$bin/loadgen" --duration "$secs" --label "$label" "$@" | tee -a "$results"
}
if want core; then
  for rate in 500 1000; do
    run "direct sync @${rate}/s" --target direct --url "$fake" --key ok1 --rate "$rate"
    run "proxy sync @${rate}/s" --target proxy --url "$healthy" --key "$token" --rate "$rate"
  done
  # ~1,250 new streams/s of ~0.8 s each keeps about 1,000 streams open at once (column `open`).
  run "direct stream ~1000 open" --target direct --url "$fake" --key ok1 --stream --rate 1250
  run "proxy stream ~1000 open" --target proxy --url "$healthy" --key "$token" --stream --rate 1250
  run "proxy sync @1000/s, 1 of 3 accounts 429" --target proxy --url "$failing" --key "$token" --rate 1000
  run "stateless conversations @1000/s" --target proxy --url "$healthy" --key "$token" --rate 1000 --conversations 256
  run "reuse conversations @1000/s" --target proxy --url "$reusing" --key "$token" --rate 1000 --conversations 256
fi
# Usage recorded vs off, at 1,000 req/s (open loop) and at saturation (closed loop, 32 at a
# time). Figures swing run to run on a shared 2-core machine, so the two proxies alternate
# three times and medians are compared.
half=$(( (secs + 1) / 2 ))
alternate() { # what, side A, its URL, side B, its URL: @1000/s and saturation, three rounds
  local what=$1 round side url
  for round in 1 2 3; do
    for side in "$2" "$4"; do
      url=$3; [ "$side" = "$4" ] && url=$5
      "$bin/loadgen" --duration "$half" --label "@1000/s, $what $side #$round" --target proxy --url "$url" --key "$token" --rate 1000 | tee -a "$results"
      "$bin/loadgen" --duration "$half" --label "saturation, $what $side #$round" --target proxy --url "$url" --key "$token" --concurrency 32 | tee -a "$results"
    done
  done
}
want usage && alternate usage recorded "$healthy" off "$unlogged"
# Tools: a request offering 20 tools (the protocol in the query, the answer parsed for calls)
# against the same request without, at 1,000 req/s, and a stream's first text with and without
# (text that is not a call is not held back), alternating as above.
want tools && for round in 1 2 3; do
  for side in without with; do
    tools=0; [ "$side" = with ] && tools=20
    "$bin/loadgen" --duration "$half" --label "@1000/s, $side 20 tools #$round" --target proxy --url "$healthy" --key "$token" --rate 1000 --tools "$tools" | tee -a "$results"
    "$bin/loadgen" --duration "$half" --label "stream @500/s, $side 20 tools #$round" --target proxy --url "$healthy" --key "$token" --rate 500 --stream --tools "$tools" | tee -a "$results"
  done
done
# Metrics counted (the default) vs off: each request's counters and histograms, at 1,000 req/s
# and at saturation, alternating as above; a scrape of /metrics every second meanwhile, as a
# Prometheus server would (more often than most do).
if want metrics; then
  uncounted=$(start_proxy uncounted '[{"api_key":"ok1"},{"api_key":"ok2"},{"api_key":"ok3"}]' METRICS=false)
  admin=$(cat "$work/data-healthy/admin_password")
  ( while sleep 1; do curl -sf -o /dev/null -H "Authorization: Bearer $admin" "$healthy/metrics" || true; done ) &
  scraper=$!
  pids+=("$scraper")
  alternate metrics on "$healthy" off "$uncounted"
  kill "$scraper"
  # One scrape's time, after all that traffic.
  curl -s -o /dev/null -w '{"label": "one /metrics scrape, ms", "value": %{time_total}}\n' -H "Authorization: Bearer $admin" "$healthy/metrics" \
    | python3 -c 'import json, sys; r = json.load(sys.stdin); r["value"] = round(r["value"] * 1000, 2); print(json.dumps(r))' >>"$work/scale.jsonl"
fi
# Session cleanup on (the default) vs off: the proxy's added p99 at 1,000 req/s, alternating
# as above. Each request's session is deleted upstream in the background when on.
want cleanup && for round in 1 2 3; do
  for side in on off; do
    url=$healthy; [ "$side" = off ] && url=$kept
    "$bin/loadgen" --duration "$half" --label "@1000/s, cleanup $side #$round" --target proxy --url "$url" --key "$token" --rate 1000 | tee -a "$results"
  done
done
# Dialects: the same prompt asked in Chat Completions, Anthropic Messages, OpenAI Responses and
# legacy completions at 1,000 req/s, and streamed at 500/s, alternating as above: each
# dialect's added latency over Chat Completions is its decoder and encoder.
want dialects && for round in 1 2 3; do
  for dialect in chat messages responses completions; do
    "$bin/loadgen" --duration "$half" --label "@1000/s, $dialect #$round" --target proxy --url "$healthy" --key "$token" --rate 1000 --dialect "$dialect" | tee -a "$results"
    "$bin/loadgen" --duration "$half" --label "stream @500/s, $dialect #$round" --target proxy --url "$healthy" --key "$token" --rate 500 --stream --dialect "$dialect" | tee -a "$results"
  done
done
# Scale (issue 16), each case against the same traffic sent straight to the fake:
# - saturation: 32 workers back to back;
# - 5,000 streams open at once (5,000 workers, each streaming back to back): streams/s,
#   latency, the proxy's peak RSS and its RSS after 60 s of rest, and the kernel's
#   listen-queue overflows (system-wide, so direct and proxy are told apart by time);
# - CPU per request at a light 40 req/s, the proxy's and, for scale, the fake's own when
#   called directly.
# Loadgen reports each process's CPU over the measured seconds (--cpu): the cores each uses
# and its CPU per request. The fake, loadgen and the proxy share this machine's cores, so the
# summary says how far a proxy costing nothing could go when the cores are full.
# SCALE_ENV adds settings to this proxy (e.g. SCALE_ENV=LISTEN_BACKLOG=1024 for a before/after),
# SCALE_BIN runs another build of it (e.g. one with glibc's allocator).
if want scale; then
  # shellcheck disable=SC2086
  env API_ACCESS_TOKEN="$token" RATE_LIMIT=0 MAX_CONCURRENT_UPSTREAM=0 RUST_LOG=warn ${SCALE_ENV:-} \
    ONDEMAND_BASE_URL="$fake" ONDEMAND_ACCOUNTS='[{"api_key":"ok1"},{"api_key":"ok2"},{"api_key":"ok3"}]' \
    "${SCALE_BIN:-$bin/ondemand-proxy}" serve --port 0 --data-dir "$work/data-scale" >"$work/scale.out" 2>"$work/scale.err" &
  scale_pid=$!
  pids+=($scale_pid)
  scale=$(wait_line "$work/scale.out" "listening on ")
  rss() { awk '/^VmRSS/ {print int($2 / 1024)}' "/proc/$1/status"; }
  overflows() { awk '/^TcpExt:/ {if (!h) {split($0, k); h = 1} else {for (i = 2; i <= NF; i++) if (k[i] == "ListenOverflows") print $i}}' /proc/net/netstat; }
  cpu=(--cpu "fake=$fake_pid" --cpu "proxy=$scale_pid")
  for round in 1 2; do
    run "saturation, direct #$round" --target direct --url "$fake" --key ok1 --concurrency 32 "${cpu[@]}"
    run "saturation, proxy #$round" --target proxy --url "$scale" --key "$token" --concurrency 32 "${cpu[@]}"
  done
  for target in direct proxy; do
    url=$scale key=$token; [ "$target" = direct ] && url=$fake key=ok1
    before=$(overflows)
    [ "$target" = proxy ] && echo 5 >"/proc/$scale_pid/clear_refs"
    run "5000 streams, $target" --target "$target" --url "$url" --key "$key" --stream --concurrency 5000 "${cpu[@]}"
    echo "{\"label\": \"5000 streams, $target: listen overflows\", \"value\": $(( $(overflows) - before ))}" >>"$work/scale.jsonl"
  done
  peak=$(awk '/^VmHWM/ {print int($2 / 1024)}' "/proc/$scale_pid/status")
  sleep 60
  echo "{\"label\": \"5000 streams, proxy: peak RSS MiB\", \"value\": $peak}" >>"$work/scale.jsonl"
  echo "{\"label\": \"5000 streams, proxy: RSS MiB 60 s after\", \"value\": $(rss "$scale_pid")}" >>"$work/scale.jsonl"
  run "light 40 req/s, direct" --target direct --url "$fake" --key ok1 --rate 40 "${cpu[@]}"
  run "light 40 req/s, proxy" --target proxy --url "$scale" --key "$token" --rate 40 "${cpu[@]}"
  cat "$work/scale.jsonl" >&2
fi
# TLS and HTTP/2 upstream (issue 27): saturation and 5,000 streams against a fake that speaks
# HTTPS with HTTP/2 as Cloudflare's edge does (256 streams a connection), with the same load
# sent straight to it. Direct, loadgen speaks HTTP/1.1 over TLS on a connection per worker;
# proxied, the proxy's upstream negotiates h2. Also the proxy's peak RSS, its RSS 60 s later,
# and the most upstream connections it held open at once (sampled every 0.2 s with ss).
if want tls; then
  "$bin/fake-ondemand" --tls --ca-out "$work/ca.pem" --no-record --frame-delay-ms 50 \
    >"$work/fake-tls.out" 2>"$work/fake-tls.err" &
  tls_fake_pid=$!
  pids+=($tls_fake_pid)
  tls_fake=$(wait_line "$work/fake-tls.out" "listening on ")
  # shellcheck disable=SC2086
  env API_ACCESS_TOKEN="$token" RATE_LIMIT=0 MAX_CONCURRENT_UPSTREAM=0 RUST_LOG=warn ${TLS_ENV:-} \
    ONDEMAND_BASE_URL="$tls_fake" ONDEMAND_CA_FILE="$work/ca.pem" \
    ONDEMAND_ACCOUNTS='[{"api_key":"ok1"},{"api_key":"ok2"},{"api_key":"ok3"}]' \
    "${SCALE_BIN:-$bin/ondemand-proxy}" serve --port 0 --data-dir "$work/data-tls" >"$work/tls.out" 2>"$work/tls.err" &
  tls_pid=$!
  pids+=($tls_pid)
  tls=$(wait_line "$work/tls.out" "listening on ")
  upstream_conns() { ss -Htn state established "( dport = :${tls_fake##*:} )" | wc -l; }
  cpu=(--cpu "fake=$tls_fake_pid" --cpu "proxy=$tls_pid")
  for round in 1 2; do
    run "tls saturation, direct #$round" --target direct --url "$tls_fake" --ca "$work/ca.pem" --key ok1 --concurrency 32 "${cpu[@]}"
    run "tls saturation, proxy #$round" --target proxy --url "$tls" --key "$token" --concurrency 32 "${cpu[@]}"
  done
  echo 5 >"/proc/$tls_pid/clear_refs"
  run "tls 5000 streams, direct" --target direct --url "$tls_fake" --ca "$work/ca.pem" --key ok1 --stream --concurrency 5000 "${cpu[@]}"
  (most=0; while kill -0 "$tls_pid" 2>/dev/null && [ ! -e "$work/tls.done" ]; do
     n=$(upstream_conns); [ "$n" -gt "$most" ] && most=$n && echo "$most" >"$work/tls.conns"; sleep 0.2
   done) &
  run "tls 5000 streams, proxy" --target proxy --url "$tls" --key "$token" --stream --concurrency 5000 "${cpu[@]}"
  touch "$work/tls.done"
  peak=$(awk '/^VmHWM/ {print int($2 / 1024)}' "/proc/$tls_pid/status")
  echo "{\"label\": \"tls 5000 streams, proxy: most upstream connections open\", \"value\": $(cat "$work/tls.conns" 2>/dev/null || echo 0)}" >>"$work/scale.jsonl"
  echo "{\"label\": \"tls 5000 streams, proxy: peak RSS MiB\", \"value\": $peak}" >>"$work/scale.jsonl"
  sleep 60
  echo "{\"label\": \"tls 5000 streams, proxy: RSS MiB 60 s after\", \"value\": $(awk '/^VmRSS/ {print int($2 / 1024)}' "/proc/$tls_pid/status")}" >>"$work/scale.jsonl"
fi
if want store; then
  "$bin/storebench" --rows 500000 | tee "$work/store.json"
  # The admin API's queries on a database of 10 million usage rows (90 days).
  "$bin/storebench" --query-rows 10000000
fi

[ -f "$work/scale.jsonl" ] || touch "$work/scale.jsonl"
python3 - "$results" "$work/scale.jsonl" <<'PY'
import json, os, sys
rows = {r["label"]: r for r in map(json.loads, open(sys.argv[1]))}
print(f"\n{'scenario':40} {'ok':>7} {'err':>4} {'req/s':>6} {'p50 ms':>7} {'p99 ms':>7} {'ttft p50':>8} {'ttft p99':>8} {'open':>5}")
for r in rows.values():
    print(f"{r['label']:40} {r['ok']:>7} {r['errors']:>4} {r['rps']:>6.0f} {r['p50_ms']:>7.2f} {r['p99_ms']:>7.2f} {r['ttft_p50_ms']:>8.2f} {r['ttft_p99_ms']:>8.2f} {r['max_in_flight']:>5}")
def diff(title, base, case):
    if base not in rows or case not in rows:
        return
    b, c = rows[base], rows[case]
    print(f"{title:46} p50 {c['p50_ms'] - b['p50_ms']:+6.2f} ms   p99 {c['p99_ms'] - b['p99_ms']:+6.2f} ms"
          f"   first text p99 {c['ttft_p99_ms'] - b['ttft_p99_ms']:+6.2f} ms")
def middle(values):
    values = sorted(values)
    return values[len(values) // 2] if values else None
def median(prefix, key):
    return middle(r[key] for label, r in rows.items() if label.startswith(prefix))
def compare(title, case, base, key, unit="ms", target=""):
    c, b = median(case, key), median(base, key)
    if c is None or b is None:
        return
    if unit == "%":
        print(f"{title}: {c:.0f} vs {b:.0f} req/s ({100 * (c / b - 1):+.1f} %{target})")
    else:
        print(f"{title}: {c:.2f} vs {b:.2f} ms ({c - b:+.2f} ms; medians of 3 alternating runs{target})")
print()
for rate in (500, 1000):
    diff(f"added by the proxy, sync @{rate}/s", f"direct sync @{rate}/s", f"proxy sync @{rate}/s")
diff("added by the proxy, ~1000 open streams", "direct stream ~1000 open", "proxy stream ~1000 open")
diff("failover (1 of 3 accounts 429) vs healthy", "proxy sync @1000/s", "proxy sync @1000/s, 1 of 3 accounts 429")
diff("reuse vs stateless, conversations", "stateless conversations @1000/s", "reuse conversations @1000/s")
compare("usage recorded vs off @1000/s, p99", "@1000/s, usage recorded", "@1000/s, usage off", "p99_ms")
compare("usage recorded vs off at saturation", "saturation, usage recorded", "saturation, usage off", "rps", "%", "; target within 5 %")
compare("metrics on vs off @1000/s, p99", "@1000/s, metrics on", "@1000/s, metrics off", "p99_ms")
compare("metrics on vs off at saturation", "saturation, metrics on", "saturation, metrics off", "rps", "%", "; target within noise")
compare("session cleanup on vs off @1000/s, p50", "@1000/s, cleanup on", "@1000/s, cleanup off", "p50_ms")
compare("session cleanup on vs off @1000/s, p99", "@1000/s, cleanup on", "@1000/s, cleanup off", "p99_ms", target="; target within 0.1 ms")
compare("20 tools vs none @1000/s, p99", "@1000/s, with 20 tools", "@1000/s, without 20 tools", "p99_ms", target="; target at most +0.2 ms")
compare("20 tools vs none, stream first text p50", "stream @500/s, with 20 tools", "stream @500/s, without 20 tools", "ttft_p50_ms", target="; text that is not a call is not held back")
compare("saturation, proxy vs direct", "saturation, proxy #", "saturation, direct #", "rps", "%", "; goal at least 50 % of direct, i.e. -50 %")
diff("5,000 streams, proxy vs direct", "5000 streams, direct", "5000 streams, proxy")
compare("5,000 streams/s, proxy vs direct", "5000 streams, proxy", "5000 streams, direct", "rps", "%", "; goal -10 % at worst")
compare("TLS saturation, proxy vs direct", "tls saturation, proxy #", "tls saturation, direct #", "rps", "%")
diff("TLS 5,000 streams, proxy vs direct", "tls 5000 streams, direct", "tls 5000 streams, proxy")
compare("TLS 5,000 streams/s, proxy vs direct", "tls 5000 streams, proxy", "tls 5000 streams, direct", "rps", "%", "; goal -10 % at worst")
for dialect in ("messages", "responses", "completions"):
    compare(f"{dialect} vs chat @1000/s, p99", f"@1000/s, {dialect} #", "@1000/s, chat #", "p99_ms", target="; target within 0.1 ms")
    compare(f"{dialect} vs chat, stream first text p99", f"stream @500/s, {dialect} #", "stream @500/s, chat #", "ttft_p99_ms")
def cpu(label, name):
    return rows.get(label, {}).get("cpu", {}).get(name, {}).get("ms_per_request")
def cpu_lines(prefix):
    for label, r in rows.items():
        if label.startswith(prefix) and r.get("cpu"):
            used = ", ".join(f"{name} {c['cores']:.2f} ({c['ms_per_request']:.3f} ms/req)" for name, c in r["cpu"].items())
            print(f"  cores in use, {label}: {used}; all {sum(c['cores'] for c in r['cpu'].values()):.2f} of {os.cpu_count()}")
def ceiling(title, direct, proxy):
    # With the cores full, a run's rate is cores / (CPU per request of all it runs): a proxy
    # costing nothing would leave the fake's and loadgen's, which differ from direct (the
    # fake answers the session's deletion too; loadgen waits longer per request).
    others = lambda label: (cpu(label, "fake") or 0) + (cpu(label, "loadgen") or 0)
    d = middle(others(l) for l in rows if l.startswith(direct) and cpu(l, "fake"))
    p = middle(others(l) for l in rows if l.startswith(proxy) and cpu(l, "fake"))
    if d and p:
        print(f"{title}: fake + loadgen spend {p:.3f} ms per proxied request, {d:.3f} direct: a proxy costing no CPU could reach {100 * d / p:.0f} % of direct with the cores full")
cpu_lines("saturation, ")
ceiling("ceiling at saturation", "saturation, direct", "saturation, proxy")
cpu_lines("5000 streams")
ceiling("ceiling, 5,000 streams", "5000 streams, direct", "5000 streams, proxy")
cpu_lines("light 40")
cpu_lines("tls ")
for line in open(sys.argv[2]):
    figure = json.loads(line)
    print(f"{figure['label']}: {figure['value']}")
PY
