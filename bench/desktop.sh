#!/usr/bin/env bash
# The desktop app's figures, with the headless server as the baseline in the same run:
# binary and .deb sizes, cold start to proxy-ready (from spawn until /health answers; the
# first launch, which creates the database, apart), and idle memory (RSS and PSS of the app
# process alone, its webview processes apart) 10 s after start with the dashboard open.
# Both are built stripped, as the .deb ships. The app runs under Xvfb.
# Then the footprint as a user keeps the app all day: 60 s visible at rest, 60 s closed to
# the tray, and $TRAFFIC_SECS (default 1800) of steady demo traffic with the dashboard open:
# CPU over each span, RSS of each process.
# Usage: bench/desktop.sh [launches]      (TRAFFIC_SECS=300 for a shorter last span)
set -euo pipefail
cd "$(dirname "$0")/.."
# The single-instance handover (a second launch shows the first one's window) needs a bus.
[ -n "${DBUS_SESSION_BUS_ADDRESS:-}" ] || exec dbus-run-session -- "$0" "$@"
runs=${1:-10}
traffic_secs=${TRAFFIC_SECS:-1800}

npm ci --no-audit --no-fund --loglevel=error
# One environment for both builds: the strip setting is part of cargo's fingerprint.
export CARGO_PROFILE_RELEASE_STRIP=symbols
npm run --silent desktop:deb >/dev/null
cargo build --release --locked -q -p ondemand-proxy
bin="${CARGO_TARGET_DIR:-target}/release"
app="$(cd "$bin" && pwd)/ondemand-proxy-desktop"
deb=$(ls "$bin"/bundle/deb/*.deb)

work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
Xvfb -displayfd 3 -screen 0 1280x800x24 -nolisten tcp 3>"$work/display" 2>/dev/null &
pids+=($!)
for _ in $(seq 1 50); do [ -s "$work/display" ] && break; sleep 0.1; done
export DISPLAY=":$(cat "$work/display")" WEBKIT_DISABLE_COMPOSITING_MODE=1 RUST_LOG=warn
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
home="$work/home"
mkdir -p "$home/config/io.github.ondemand-proxy" "$home/data" "$home/headless"
echo "{\"port\": $port}" >"$home/config/io.github.ondemand-proxy/preferences.json"
desktop_env=(env HOME="$home" XDG_CONFIG_HOME="$home/config" XDG_DATA_HOME="$home/data" XDG_CACHE_HOME="$home/cache")
headless_cmd=("$bin/ondemand-proxy" serve --port "$port" --data-dir "$home/headless")

now_ms() { echo $(($(date +%s%N) / 1000000)); }
# Starts "$@" in the background: $started is its pid, $elapsed the ms until /health answers.
launch() {
  local t0
  t0=$(now_ms)
  "$@" >/dev/null 2>&1 &
  started=$!
  until curl -sf -o /dev/null "http://127.0.0.1:$port/health"; do
    kill -0 "$started" 2>/dev/null || { echo "it exited at start" >&2; exit 1; }
    sleep 0.002
  done
  elapsed=$(($(now_ms) - t0))
}
stop() { kill -TERM "$1"; wait "$1" 2>/dev/null || true; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
kib() { awk -v k="$1" '$1 == k":" {print $2}' "/proc/$2/smaps_rollup" 2>/dev/null | grep . || echo 0; }
children_of() { local p; for p in $(pgrep -P "$1"); do echo "$p"; children_of "$p"; done; }

printf '%-12s %12s %14s %16s %10s %10s %16s\n' "" "binary" "first launch" "cold start p50" "RSS" "PSS" "webview PSS"
for which in headless desktop; do
  if [ "$which" = desktop ]; then cmd=("${desktop_env[@]}" "$app"); size=$(stat -c %s "$app"); else cmd=("${headless_cmd[@]}"); size=$(stat -c %s "$bin/ondemand-proxy"); fi
  launch "${cmd[@]}"; first=$elapsed; stop "$started"
  times=()
  for _ in $(seq 1 "$runs"); do launch "${cmd[@]}"; times+=("$elapsed"); stop "$started"; done
  launch "${cmd[@]}"
  sleep 10
  # `env` execs the app: the pid is the app's own.
  rss=$(kib Rss "$started"); pss=$(kib Pss "$started")
  web=0
  for c in $(children_of "$started"); do web=$((web + $(kib Pss "$c"))); done
  stop "$started"
  printf '%-12s %9.1f MiB %11s ms %13s ms %6d MiB %6d MiB %12d MiB\n' "$which" "$(awk -v s="$size" 'BEGIN {print s / 1048576}')" "$first" \
    "$(printf '%s\n' "${times[@]}" | median)" $((rss / 1024)) $((pss / 1024)) $((web / 1024))
done
echo ".deb: $(basename "$deb"), $(du -k "$deb" | awk '{printf "%.1f MiB", $1/1024}')"

# The window at rest: the CPU the app and its WebKit processes use over 30 s, 10 s after
# start, with the dashboard showing and nothing happening, and started hidden in the tray
# (--minimised, as the login item starts it).
ticks() { local t=0 p; for p in "$@"; do t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0))); done; echo "$t"; }
percent() { awk -v t="$1" -v hz="$(getconf CLK_TCK)" 'BEGIN {printf "%.2f", 100 * t / hz / 30}'; }
for mode in visible hidden; do
  extra=(); [ "$mode" = hidden ] && extra=(--minimised)
  launch "${desktop_env[@]}" "$app" "${extra[@]}"
  sleep 10
  mapfile -t web < <(children_of "$started")
  app0=$(ticks "$started"); web0=$(ticks "${web[@]}")
  sleep 30
  app1=$(ticks "$started"); web1=$(ticks "${web[@]}")
  stop "$started"
  echo "window $mode, at rest: app $(percent $((app1 - app0))) %, web processes $(percent $((web1 - web0))) % of a core"
done

# The footprint as a user keeps it all day.
rss_of() { local t=0 p; for p in "$@"; do t=$((t + $(kib Rss "$p"))); done; echo $((t / 1024)); }
web_of() { local p; for p in $(children_of "$1"); do grep -qa WebKitWebProcess "/proc/$p/cmdline" 2>/dev/null && echo "$p"; done; }
each_process() {
  local p
  for p in "$1" $(children_of "$1"); do
    printf '    %-26s %5d MiB\n' "$(basename "$(tr '\0' '\n' <"/proc/$p/cmdline" | head -1)")" $(($(kib Rss "$p") / 1024))
  done
}
# CPU of "$@" (the app and its processes) over $1 seconds, as % of a core.
cpu_over() {
  local secs=$1 t0 t1; shift
  t0=$(ticks "$@"); sleep "$secs"; t1=$(ticks "$@")
  awk -v t=$((t1 - t0)) -v hz="$(getconf CLK_TCK)" -v s="$secs" 'BEGIN {printf "%.2f", 100 * t / hz / s}'
}
launch "${desktop_env[@]}" "$app"
app_pid=$started
sleep 10
mapfile -t procs < <(echo "$app_pid"; children_of "$app_pid")
echo "visible, at rest for 60 s: $(cpu_over 60 "${procs[@]}") % of a core (web process alone: $(cpu_over 10 $(web_of "$app_pid")) % over 10 s); $(rss_of "${procs[@]}") MiB RSS in all"
each_process "$app_pid"
window=$(xwininfo -root -children | awk '/"OnDemand Proxy"/ {print $1; exit}')
python3 tests/desktop/wm_close.py "$window"
for _ in $(seq 1 100); do [ -z "$(web_of "$app_pid")" ] && break; sleep 0.1; done
sleep 5
mapfile -t procs < <(echo "$app_pid"; children_of "$app_pid")
echo "closed to the tray, 60 s: $(cpu_over 60 "${procs[@]}") % of a core; $(rss_of "${procs[@]}") MiB RSS in all"
each_process "$app_pid"
# Open again (a second launch hands over and exits), then steady traffic on the demo account.
"${desktop_env[@]}" "$app" >/dev/null 2>&1 || true
for _ in $(seq 1 100); do [ -n "$(web_of "$app_pid")" ] && break; sleep 0.1; done
data="$home/data/io.github.ondemand-proxy"
curl -sf -o /dev/null -X POST -H "Authorization: Bearer $(cat "$data/admin_password")" "http://127.0.0.1:$port/api/demo"
token=$(cat "$data/client_token")
end=$(($(date +%s) + traffic_secs))
( while [ "$(date +%s)" -lt "$end" ]; do
    curl -s -o /dev/null -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
      -d '{"model": "gpt-4o", "messages": [{"role": "user", "content": "a steady request"}]}' \
      "http://127.0.0.1:$port/v1/chat/completions"
    sleep 0.5
  done ) &
traffic=$!
sleep 60
web=$(web_of "$app_pid")
first=$(rss_of $web)
echo "traffic (~2 requests/s, dashboard open): web process $first MiB after the first minute"
elapsed=60
while [ "$elapsed" -lt "$traffic_secs" ]; do
  step=$((traffic_secs - elapsed < 300 ? traffic_secs - elapsed : 300))
  cpu=$(cpu_over "$step" "$web")
  elapsed=$((elapsed + step))
  echo "  at $((elapsed / 60)) min: web process $(rss_of $web) MiB, $cpu % of a core over the last $step s"
done
wait "$traffic" 2>/dev/null || true
last=$(rss_of $web)
echo "after $((traffic_secs / 60)) min of traffic: web process $last MiB ($((last - first)) MiB since the first minute)"
each_process "$app_pid"
stop "$app_pid"
