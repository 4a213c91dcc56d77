#!/usr/bin/env bash
# The proxy beside the gateways a user might pick instead, on this machine, in one run, with
# one load tool (bench/loadgen):
# - LiteLLM's proxy (pip, into a venv under target/peers) and Portkey's open-source gateway
#   (npm, under target/peers), each in front of the fake's OpenAI-compatible route;
# - ours in front of the fake's on-demand.io routes;
# - and each upstream directly (the OpenAI route; the on-demand.io session + query), so every
#   gateway is measured against the very work it forwards.
# Scenarios: saturation (32 workers back to back, no streaming), latency at a light 50 req/s,
# and 100 streams at a time (frames 50 ms apart). It prints one table with the ratios. Not part
# of the test command; loopback only. The peers are installed on first use (pip and npm reach
# their registries); --no-install uses what is there.
# Usage: bench/peers.sh [seconds per scenario] [--no-install]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
install=true
[ "${2:-}" = "--no-install" ] && install=false
target=${CARGO_TARGET_DIR:-target}
peers="$(pwd)/$target/peers"
# Pinned, so that a later run measures the same peers.
litellm_version=1.108.7
portkey_version=1.15.2

cargo build --release --locked -q -p ondemand-proxy -p fake-ondemand -p loadgen
bin="$target/release"
mkdir -p "$peers"
if $install; then
  if [ ! -x "$peers/litellm/bin/litellm" ]; then
    python3 -m venv "$peers/litellm"
    "$peers/litellm/bin/pip" install --quiet --disable-pip-version-check "litellm[proxy]==$litellm_version"
  fi
  if [ ! -f "$peers/portkey/node_modules/@portkey-ai/gateway/build/start-server.js" ]; then
    mkdir -p "$peers/portkey"
    npm install --prefix "$peers/portkey" --no-audit --no-fund --loglevel=error "@portkey-ai/gateway@$portkey_version"
  fi
fi
[ -x "$peers/litellm/bin/litellm" ] || { echo "LiteLLM is not installed (run without --no-install)" >&2; exit 1; }
portkey_server="$peers/portkey/node_modules/@portkey-ai/gateway/build/start-server.js"
[ -f "$portkey_server" ] || { echo "Portkey's gateway is not installed (run without --no-install)" >&2; exit 1; }
source bench/lib.sh

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_http() { # url, name
  for _ in $(seq 1 600); do
    curl -s -o /dev/null "$1" && return
    sleep 0.1
  done
  echo "$2 did not start; its log:" >&2
  cat "$work/$2.log" >&2
  exit 1
}

"$bin/fake-ondemand" --no-record --frame-delay-ms 50 >"$work/fake.out" 2>"$work/fake.err" &
pids+=($!)
fake=$(wait_line "$work/fake.out" "listening on ")
token="sk-bench-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"

# Ours: three accounts, no rate limit, as in bench/run.sh.
env API_ACCESS_TOKEN="$token" RATE_LIMIT=0 MAX_CONCURRENT_UPSTREAM=0 RUST_LOG=warn \
  ONDEMAND_BASE_URL="$fake" ONDEMAND_ACCOUNTS='[{"api_key":"ok1"},{"api_key":"ok2"},{"api_key":"ok3"}]' \
  "$bin/ondemand-proxy" serve --port 0 --data-dir "$work/data" >"$work/ours.out" 2>"$work/ours.log" &
pids+=($!)
ours=$(wait_line "$work/ours.out" "listening on ")

# LiteLLM's proxy with one worker per core (its advice for throughput), no database, no
# network look-ups; the model is the fake's OpenAI route.
litellm_port=$(free_port)
cat >"$work/litellm.yaml" <<YAML
model_list:
  - model_name: gpt-4o
    litellm_params:
      model: openai/gpt-4o
      api_base: $fake/v1
      api_key: fake-key
general_settings:
  master_key: $token
litellm_settings:
  telemetry: false
YAML
LITELLM_LOCAL_MODEL_COST_MAP=True LITELLM_LOG=ERROR \
  "$peers/litellm/bin/litellm" --config "$work/litellm.yaml" --host 127.0.0.1 --port "$litellm_port" \
  --num_workers "$(nproc)" >"$work/litellm.log" 2>&1 &
pids+=($!)
litellm="http://127.0.0.1:$litellm_port"

# Portkey's gateway, told per request which provider and host to call.
portkey_port=$(free_port)
NODE_ENV=production node "$portkey_server" --port="$portkey_port" --headless >"$work/portkey.log" 2>&1 &
pids+=($!)
portkey="http://127.0.0.1:$portkey_port"
wait_http "$litellm/health/liveliness" litellm
wait_http "$portkey/" portkey
echo "fake $fake | ours $ours | LiteLLM $litellm_version $litellm | Portkey $portkey_version $portkey | $(nproc) cores, ${secs}s per scenario" >&2

results="$work/results.jsonl"
# target name, then loadgen's target arguments
declare -A how=(
  [ours]="--target proxy --url $ours --key $token"
  [ours-upstream]="--target direct --url $fake --key ok1"
  [litellm]="--target proxy --url $litellm --key $token"
  [portkey]="--target proxy --url $portkey --key fake-key --header x-portkey-provider:openai --header x-portkey-custom-host:$fake/v1"
  [openai-upstream]="--target proxy --url $fake --key fake-key"
)
order=(ours-upstream ours openai-upstream litellm portkey)
for name in "${order[@]}"; do
  # shellcheck disable=SC2086
  "$bin/loadgen" --duration 2 --label "warm-up $name" ${how[$name]} --concurrency 4 >/dev/null
done
for name in "${order[@]}"; do
  # shellcheck disable=SC2086
  {
    "$bin/loadgen" --duration "$secs" --label "$name|saturation" ${how[$name]} --concurrency 32
    "$bin/loadgen" --duration "$secs" --label "$name|@50/s" ${how[$name]} --rate 50
    "$bin/loadgen" --duration "$secs" --label "$name|100 streams" ${how[$name]} --stream --concurrency 100
  } | tee -a "$results" >&2
done

python3 - "$results" "$litellm_version" "$portkey_version" <<'PY'
import json, sys
rows = {}
for line in open(sys.argv[1]):
    r = json.loads(line)
    name, scenario = r["label"].split("|")
    rows.setdefault(name, {})[scenario] = r
titles = {
    "ours-upstream": "on-demand.io fake, direct",
    "ours": "OnDemand Proxy",
    "openai-upstream": "OpenAI fake, direct",
    "litellm": f"LiteLLM {sys.argv[2]}",
    "portkey": f"Portkey gateway {sys.argv[3]}",
}
upstream = {"ours": "ours-upstream", "litellm": "openai-upstream", "portkey": "openai-upstream"}
print(f"\n{'':28} {'saturation':>11} {'of its':>9} {'p50 @50/s':>10} {'p99 @50/s':>10} {'added p50':>10} {'streams/s':>10} {'first text':>11} {'errors':>7}")
print(f"{'':28} {'req/s':>11} {'upstream':>9} {'ms':>10} {'ms':>10} {'ms':>10} {'(100 open)':>10} {'p99 ms':>11}")
for name, title in titles.items():
    r = rows.get(name, {})
    sat, light, streams = r.get("saturation"), r.get("@50/s"), r.get("100 streams")
    if not (sat and light and streams):
        continue
    base = rows.get(upstream.get(name, ""), {})
    share = f"{100 * sat['rps'] / base['saturation']['rps']:.1f} %" if base else ""
    added = f"{light['p50_ms'] - base['@50/s']['p50_ms']:+.2f}" if base else ""
    errors = sat["errors"] + light["errors"] + streams["errors"]
    # A scenario where every request failed has no figures, only its failure.
    streamed = (f"{streams['rps']:>10.0f} {streams['ttft_p99_ms']:>11.1f}" if streams["ok"]
                else f"{'failed':>10} {'':>11}")
    print(f"{title:28} {sat['rps']:>11.0f} {share:>9} {light['p50_ms']:>10.2f} {light['p99_ms']:>10.2f} {added:>10} {streamed} {errors:>7}")
print()
ours = rows["ours"]["saturation"]["rps"]
for name in ("litellm", "portkey"):
    if "saturation" in rows.get(name, {}):
        print(f"saturation, OnDemand Proxy vs {titles[name]}: {ours / rows[name]['saturation']['rps']:.1f}x")
PY
