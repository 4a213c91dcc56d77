#!/usr/bin/env bash
# The headless server's Windows exe under Wine (wine64), as the Linux binary is tested in
# scripts/test.sh: started with --demo, it must pass the official OpenAI and Anthropic SDK
# suites (Python and Node) and the coding agents' suite (Claude Code, Codex CLI); its data
# directory survives a restart with the same credentials; and a graceful stop (Ctrl-C, as
# Wine delivers SIGINT) writes every usage row. Needs target/windows/ondemand-proxy.exe
# and the installer (scripts/windows.sh), whose contents it checks. Loopback only.
#
# Wine 8 lacks bcryptprimitives.dll, whose ProcessPrng Rust's standard library calls (real
# Windows 10 and 11 have it): the test builds a stand-in from bcryptprimitives.c into its
# own Wine prefix. It is never shipped. The desktop app's window needs the WebView2 runtime,
# which Wine lacks: it is built and packed, not run.
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/deps.sh

wine=/usr/lib/wine/wine64
[ -x "$wine" ] || packages+=(wine64)
have x86_64-w64-mingw32-gcc || packages+=(gcc-mingw-w64-x86-64)
have 7z || packages+=(p7zip-full)
have curl || packages+=(curl)
have python3 || packages+=(python3)
if have python3 && ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then packages+=(python3-venv); fi
if ! have node || ! have npm; then packages+=(nodejs npm); fi
install_packages
require_node

root=$(realpath "${CARGO_TARGET_DIR:-target}")
exe="$root/windows/ondemand-proxy.exe"
[ -f "$exe" ] || { echo "no $exe: run scripts/windows.sh server first" >&2; exit 1; }

export WINEPREFIX="$root/wine-prefix" WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml="
if [ ! -f "$WINEPREFIX/system.reg" ]; then
  echo "creating the Wine prefix (about 15 s)"
  "$wine" wineboot --init >/dev/null 2>&1
fi
x86_64-w64-mingw32-gcc -O2 -shared -o "$WINEPREFIX/drive_c/windows/system32/bcryptprimitives.dll" \
  tests/windows/bcryptprimitives.c tests/windows/bcryptprimitives.def -ladvapi32

work=$(mktemp -d)
trap 'kill $(cat "$work/pids" 2>/dev/null) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT
token="sk-wine-test-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"

# Starts the exe under Wine with `serve --port 0 --data-dir <dir>` and more flags; prints
# its OpenAI base URL. Its pid goes to $work/pid.
start() { # data dir, flags…
  local dir=$1; shift
  "$wine" "$exe" serve --port 0 --data-dir "Z:${dir//\//\\}" "$@" >"$work/out" 2>"$work/err" &
  echo $! >"$work/pid"; echo $! >>"$work/pids"
  for _ in $(seq 1 600); do
    if grep -q '^OpenAI base URL: ' "$work/out"; then sed -n 's/^OpenAI base URL: //p' "$work/out" | head -1; return; fi
    kill -0 "$(cat "$work/pid")" 2>/dev/null || { cat "$work/out" "$work/err" >&2; echo "the exe exited at start" >&2; exit 1; }
    sleep 0.1
  done
  cat "$work/out" "$work/err" >&2; echo "the exe did not start within 60 s" >&2; exit 1
}
# Asks the exe to stop as Ctrl-C would, and waits for it.
stop() {
  local pid; pid=$(cat "$work/pid")
  kill -INT "$pid"
  for _ in $(seq 1 300); do
    if ! kill -0 "$pid" 2>/dev/null; then
      grep -q "stopped; usage written" "$work/err" && return 0
      cat "$work/err" >&2; echo "the exe did not stop gracefully on Ctrl-C" >&2; exit 1
    fi
    sleep 0.1
  done
  echo "the exe did not stop within 30 s of Ctrl-C" >&2; exit 1
}

step() { printf '\n==> %s\n' "$*"; }

step "the installer holds the desktop app, its WebView2 loader and the server (7z l)"
installer="$root/windows/OnDemandProxy-setup.exe"
[ -f "$installer" ] || { echo "no $installer: run scripts/windows.sh first" >&2; exit 1; }
listing=$(7z l "$installer")
for file in ondemand-proxy-desktop.exe WebView2Loader.dll ondemand-proxy.exe uninstall.exe; do
  grep -q " $file\$" <<<"$listing" || { echo "$listing" >&2; echo "the installer lacks $file" >&2; exit 1; }
done
echo "$(wc -c <"$installer") bytes; holds ondemand-proxy-desktop.exe, WebView2Loader.dll, ondemand-proxy.exe, uninstall.exe"

step "the Windows server under Wine, in demo mode"
base_url=$(RATE_LIMIT=0 API_ACCESS_TOKEN="$token" start "$work/demo" --demo)
export OPENAI_BASE_URL="$base_url" OPENAI_API_KEY="$token"
export ANTHROPIC_BASE_URL="${base_url%/v1}" ANTHROPIC_API_KEY="$token"
echo "serving at $base_url ($(wc -c <"$exe") bytes)"

venv="$root/sdk-venv"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check -r tests/sdk/requirements.txt
step "OpenAI and Anthropic Python SDKs (pytest)"
"$venv/bin/python" -m pytest -q -p no:cacheprovider tests/sdk/test_python_sdk.py tests/sdk/test_anthropic_sdk.py
step "OpenAI and Anthropic Node SDKs (node --test)"
node --test tests/sdk/node_sdk.test.mjs tests/sdk/anthropic_sdk.test.mjs
step "coding agents from npm, pinned: claude -p and codex exec"
npm ci --prefix tests/agents --no-audit --no-fund --loglevel=error
node --test tests/agents/claude.test.mjs tests/agents/codex.test.mjs
stop

step "its data directory: the same credentials after a restart, and every usage row after Ctrl-C"
data="$work/data"
base_url=$(start "$data" --demo)
client=$(cat "$data/client_token")
admin=$(cat "$data/admin_password")
[ -n "$client" ] && [ -n "$admin" ] || { echo "no credentials in the data directory" >&2; exit 1; }
ask() { # base URL, token: one chat, its status
  curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $2" -H 'Content-Type: application/json' \
    -d '{"model":"gpt-4o","messages":[{"role":"user","content":"hello from Wine"}]}' "$1/chat/completions"
}
sent=20
for _ in $(seq 1 "$sent"); do
  [ "$(ask "$base_url" "$client")" = 200 ] || { echo "a demo chat was not answered" >&2; exit 1; }
done
stop
base_url=$(start "$data" --demo)
[ "$(cat "$data/client_token")" = "$client" ] && [ "$(cat "$data/admin_password")" = "$admin" ] \
  || { echo "the credentials changed across a restart" >&2; exit 1; }
status=$(ask "$base_url" "$client")
[ "$status" = 200 ] || { echo "the stored client token was refused after a restart: $status" >&2; exit 1; }
rows=$(curl -sf -H "Authorization: Bearer $admin" "${base_url%/v1}/api/requests?limit=100" \
  | python3 -c 'import json, sys; print(len(json.load(sys.stdin)["data"]))')
# The 20 before the stop, and the one after the restart if it was written already.
[ "$rows" -ge "$sent" ] || { echo "only $rows of $sent usage rows were written before the stop" >&2; exit 1; }
stop
echo "the same client token and admin password after a restart; $rows usage rows, $sent before Ctrl-C"
step "the Windows server passed under Wine"
