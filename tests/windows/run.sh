#!/usr/bin/env bash
# The headless server's Windows exe under Wine (wine64), as the Linux binary is tested in
# scripts/test.sh: started with --demo-tls, it must pass the official OpenAI and Anthropic SDK
# suites (Python and Node) and the coding agents' suite (Claude Code, Codex CLI), and
# `connect` must set both agents up in the Windows profile and take it back; a config.json
# with Windows paths is read; without --data-dir its data goes to %APPDATA%; over HTTPS and HTTP/2 the Windows certificate verifier refuses
# an unknown CA (blaming no account) and `--ca-file` makes it trusted; its data directory
# survives a restart with the same credentials; and a graceful stop (Ctrl-C, as Wine
# delivers SIGINT) writes every usage row. Needs target/windows/ondemand-proxy.exe and the
# installer (scripts/windows.sh), whose contents it checks and which it runs, with its
# uninstaller, silently. Loopback only.
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
have openssl || packages+=(openssl)
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

# A Linux path as the exe sees it (Wine's drive Z: is /).
win() { echo "Z:${1//\//\\}"; }
# Starts the exe under Wine with `serve --port 0 --data-dir <dir>` and more flags (with no
# dir, the flags say where); prints its OpenAI base URL. Its pid goes to $work/pid.
start() { # data dir or "", flags…
  local dir=$1; shift
  [ -n "$dir" ] && set -- --data-dir "$(win "$dir")" "$@"
  "$wine" "$exe" serve --port 0 "$@" >"$work/out" 2>"$work/err" &
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
ask() { # base URL, token: one chat, its status (its body in $work/answer)
  curl -s -o "$work/answer" -w '%{http_code}' -H "Authorization: Bearer $2" -H 'Content-Type: application/json' \
    -d '{"model":"gpt-4o","messages":[{"role":"user","content":"hello from Wine"}]}' "$1/chat/completions"
}

step "the installer holds the desktop app, its WebView2 loader and the server (7z l)"
installer="$root/windows/OnDemandProxy-setup.exe"
[ -f "$installer" ] || { echo "no $installer: run scripts/windows.sh first" >&2; exit 1; }
listing=$(7z l "$installer")
for file in ondemand-proxy-desktop.exe WebView2Loader.dll ondemand-proxy.exe uninstall.exe; do
  grep -q " $file\$" <<<"$listing" || { echo "$listing" >&2; echo "the installer lacks $file" >&2; exit 1; }
done
echo "$(wc -c <"$installer") bytes; holds ondemand-proxy-desktop.exe, WebView2Loader.dll, ondemand-proxy.exe, uninstall.exe"

step "the Windows server under Wine, in demo mode over HTTPS and HTTP/2 (--demo-tls)"
# The SDK and agent suites' traffic goes through the exe's TLS client, as on Windows.
base_url=$(RATE_LIMIT=0 API_ACCESS_TOKEN="$token" start "$work/demo" --demo-tls)
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

# The Windows profile folder, as Linux sees it: where the exe writes the agents' files, as it
# would on Windows, and where the Linux agents read them (as their home).
winprofile=$("$wine" cmd /c 'echo %USERPROFILE%' | tr -d '\r')
profile=$("$wine" winepath -u "$winprofile" | tr -d '\r')
profile=${profile%/}
[ -d "$profile" ] || { echo "no Windows profile folder at '$profile'" >&2; exit 1; }
step "one-click setup: connect writes the agents' files in the Windows profile ($profile), --undo takes them back"
rm -rf "$profile/.claude" "$profile/.claude.json" "$profile/.codex"
ODP_WINE="$wine" ODP_BIN="$exe" ODP_DATA_DIR="$(win "$work/demo")" ODP_HOME="$profile" \
  node --test tests/agents/connect.test.mjs
stop

step "config.json with Windows paths: --config, data_dir and upstream_ca_file, in a folder with a space"
# As a Windows user writes them: drive letters, backslashes, a space in a folder's name.
folder="$profile/OnDemand Test"
rm -rf "$folder"; mkdir -p "$folder"
winfolder="$winprofile\\OnDemand Test"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=test-ca -days 1 \
  -keyout /dev/null -out "$folder/ca.pem" 2>/dev/null
config_token="sk-wine-config-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
write_config() { # CA file name
  python3 - "$folder/config.json" "$winfolder" "$config_token" "$1" <<'PY'
import json, sys
path, folder, token, ca = sys.argv[1:]
json.dump({"api_access_token": token, "rate_limit": 0, "data_dir": folder + "\\data",
           "upstream_ca_file": folder + "\\" + ca}, open(path, "w"), indent=2)
PY
}
write_config ca.pem
base_url=$(start "" --demo --config "$winfolder\config.json")
[ -f "$folder/data/admin_password" ] || { ls -la "$folder" >&2; echo "no data directory at $winfolder\data" >&2; exit 1; }
[ "$(ask "$base_url" "$config_token")" = 200 ] || { echo "the config file's token was refused" >&2; exit 1; }
[ "$(ask "$base_url" "$token")" = 401 ] || { echo "a token the config file does not give was let in" >&2; exit 1; }
stop
write_config missing.pem
if timeout 60 "$wine" "$exe" serve --port 0 --demo --config "$winfolder\config.json" >"$work/out" 2>"$work/err"; then
  echo "the exe started with a CA file that does not exist" >&2; exit 1
fi
grep -qF 'missing.pem' "$work/err" || { cat "$work/err" >&2; echo "the error does not name the missing CA file" >&2; exit 1; }
rm -rf "$folder"
echo "read $winfolder\config.json; data in $winfolder\data; a missing CA file stops the start: $(grep -m1 -F missing.pem "$work/err")"

step "no --data-dir: the credentials and the database in %APPDATA%\\ondemand-proxy"
appdata_dir="$profile/AppData/Roaming/ondemand-proxy"
rm -rf "$appdata_dir"
base_url=$(start "" --demo)
for file in client_token admin_password ondemand-proxy.db; do
  [ -f "$appdata_dir/$file" ] || { ls -la "$appdata_dir" >&2; echo "no $file in %APPDATA%\\ondemand-proxy" >&2; exit 1; }
done
[ "$(ask "$base_url" "$(cat "$appdata_dir/client_token")")" = 200 ] || { echo "the stored client token was refused" >&2; exit 1; }
stop
rm -rf "$appdata_dir"
echo "the headless exe keeps its data in $winprofile\\AppData\\Roaming\\ondemand-proxy"

step "the installer and the uninstaller, silently (/S), in the test's Wine prefix"
# Per user, no administrator rights: the program under %LOCALAPPDATA%\Programs, a Start-menu
# shortcut, an entry in Settings > Apps, and no autostart entry. Wine has no WebView2 runtime,
# so this also shows that a silent install goes on past that check without asking.
appdata="$profile/AppData"
installed="$appdata/Local/Programs/OnDemand Proxy"
shortcut="$appdata/Roaming/Microsoft/Windows/Start Menu/Programs/OnDemand Proxy.lnk"
uninstall_key='HKCU\Software\Microsoft\Windows\CurrentVersion\Uninstall\io.github.ondemand-proxy'
run_key='HKCU\Software\Microsoft\Windows\CurrentVersion\Run'
approved_key='HKCU\Software\Microsoft\Windows\CurrentVersion\Explorer\StartupApproved\Run'
reg() { "$wine" reg "$@" 2>/dev/null | tr -d '\r'; }
wineserver=/usr/lib/wine/wineserver64
[ -x "$wineserver" ] || wineserver=/usr/lib/wine/wineserver
data_dir="$appdata/Roaming/io.github.ondemand-proxy"
# What an earlier run that failed half-way may have left in the prefix.
for key in "$run_key" "$approved_key"; do reg delete "$key" /v 'OnDemand Proxy' /f >/dev/null || true; done
reg delete "$uninstall_key" /f >/dev/null || true
rm -rf "$installed" "$shortcut" "$data_dir"
timeout 120 "$wine" "$installer" /S
"$wineserver" -w
for file in ondemand-proxy-desktop.exe WebView2Loader.dll ondemand-proxy.exe; do
  cmp -s "$installed/$file" "$root/windows/$file" || { ls -la "$installed" >&2; echo "the installer did not put $file in place" >&2; exit 1; }
done
[ -f "$installed/uninstall.exe" ] && [ -f "$shortcut" ] || { echo "no uninstaller or no Start-menu shortcut" >&2; exit 1; }
reg query "$uninstall_key" /v InstallLocation | grep -qF 'AppData\Local\Programs\OnDemand Proxy' \
  || { reg query "$uninstall_key" >&2; echo "no Settings > Apps entry naming the install folder" >&2; exit 1; }
! reg query "$run_key" /v 'OnDemand Proxy' | grep -q 'OnDemand Proxy' || { echo "the installer added an autostart entry" >&2; exit 1; }
echo "installed in $installed: the three files, the uninstaller, the shortcut, the Apps entry; no autostart entry"
# What a user's use leaves: data, and the app's own login entry (its preference, switched on).
mkdir -p "$data_dir"; echo kept >"$data_dir/client_token"
reg add "$run_key" /v 'OnDemand Proxy' /d "\"$(win "$installed")\\ondemand-proxy-desktop.exe\" --autostart" /f >/dev/null
reg add "$approved_key" /v 'OnDemand Proxy' /t REG_BINARY /d 020000000000000000000000 /f >/dev/null
timeout 120 "$wine" "$installed/uninstall.exe" /S
"$wineserver" -w
[ ! -e "$installed" ] && [ ! -e "$shortcut" ] || { ls -la "$installed" "$shortcut" >&2; echo "the uninstaller left the program or its shortcut" >&2; exit 1; }
! reg query "$uninstall_key" | grep -q DisplayName || { echo "the uninstaller left the Apps entry" >&2; exit 1; }
! reg query "$run_key" | grep -q 'OnDemand Proxy' || { echo "the uninstaller left the autostart entry" >&2; exit 1; }
! reg query "$approved_key" | grep -q 'OnDemand Proxy' || { echo "the uninstaller left the autostart entry's Task Manager twin" >&2; exit 1; }
[ "$(cat "$data_dir/client_token")" = kept ] || { echo "a silent uninstall deleted the user's data" >&2; exit 1; }
rm -rf "$data_dir"
echo "uninstalled: the program, the shortcut, the Apps entry and the autostart entry went; the data stayed"

step "HTTPS and HTTP/2 upstream through Windows' certificate verifier: untrusted, then trusted with --ca-file"
# The fake (a Linux build) speaks TLS with a CA it makes; Wine's crypt32 does not know that
# CA, as Windows would not. The exe must refuse it, blaming no account and naming the
# setting, and then trust it when the CA file is given, and negotiate h2.
fake="$root/debug/fake-ondemand"
[ -x "$fake" ] || cargo build -q -p fake-ondemand
"$fake" --tls --ca-out "$work/ca.pem" >"$work/fake.out" 2>"$work/fake.err" &
echo $! >>"$work/pids"
for _ in $(seq 1 100); do grep -q 'listening on ' "$work/fake.out" && break; sleep 0.1; done
fake_url=$(sed -n 's/.*listening on //p' "$work/fake.out" | head -1)
[ -n "$fake_url" ] || { cat "$work/fake.err" >&2; echo "the TLS fake did not start" >&2; exit 1; }
export ONDEMAND_BASE_URL="$fake_url" ONDEMAND_ACCOUNTS='[{"api_key":"k1"},{"api_key":"k2"}]'
base_url=$(API_ACCESS_TOKEN="$token" start "$work/tls")
status=$(ask "$base_url" "$token")
python3 - "$status" "$work/answer" <<'PY' || exit 1
import json, sys
status, body = sys.argv[1], json.load(open(sys.argv[2]))
error = body["error"]
assert status == "502" and error["code"] == "upstream_certificate_untrusted", (status, body)
assert "not trusted" in error["message"] and "upstream_ca_file" in error["message"], error["message"]
assert "after 1 attempt" in error["message"], "one try, not one per account: " + error["message"]
print("untrusted:", status, error["code"])
PY
admin=$(cat "$work/tls/admin_password")
probe() { # base URL: Settings → Network's *Test connection*, what the way to the upstream negotiated
  curl -sf -X POST -H "Authorization: Bearer $admin" -H 'Content-Type: application/json' -d '{}' "${1%/v1}/api/network/test"
}
probe "$base_url" | python3 -c '
import json, sys
probe = json.load(sys.stdin)
assert probe["trust"] == "system" and probe["fault"] == "certificate", probe
print("Test connection: the system verifier (crypt32) refused it:", probe["error"][:120])'
curl -sf -H "Authorization: Bearer $admin" "${base_url%/v1}/api/accounts" | python3 -c '
import json, sys
accounts = json.load(sys.stdin)["data"]
blamed = [a["name"] for a in accounts if a["state"] != "healthy"]
assert not blamed, f"accounts blamed for a certificate: {blamed}"
print(len(accounts), "accounts, none blamed")'
stop
base_url=$(API_ACCESS_TOKEN="$token" start "$work/tls" --ca-file "$(win "$work/ca.pem")")
status=$(ask "$base_url" "$token")
[ "$status" = 200 ] || { cat "$work/answer" >&2; echo "a chat over TLS with the CA file given: $status" >&2; exit 1; }
# Without an account the catalogue answers 401, which still shows the way works. Wine's
# crypt32 refuses the chain engine that extra roots need (Windows 8 and later have it), so
# under Wine the exe says so and trusts the bundled roots plus the file.
trust=$(probe "$base_url" | python3 -c '
import json, sys
probe = json.load(sys.stdin)
assert probe["protocol"] == "h2" and probe["tls_version"] and probe["fault"] in (None, "upstream"), probe
assert probe["trust"] in ("system", "bundled") and probe["extra_roots"] == 1, probe
print(probe["trust"])')
if [ "$trust" = bundled ]; then
  grep "cannot take upstream_ca_file's roots here" "$work/err" || { cat "$work/err" >&2; echo "the fallback to the bundled roots was not said" >&2; exit 1; }
fi
echo "trusted with --ca-file: a chat answered 200, over h2; roots: $trust + 1 from the file"
stop
unset ONDEMAND_BASE_URL ONDEMAND_ACCOUNTS

step "its data directory: the same credentials after a restart, and every usage row after Ctrl-C"
data="$work/data"
base_url=$(start "$data" --demo)
client=$(cat "$data/client_token")
admin=$(cat "$data/admin_password")
[ -n "$client" ] && [ -n "$admin" ] || { echo "no credentials in the data directory" >&2; exit 1; }
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
