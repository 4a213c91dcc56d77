#!/usr/bin/env bash
# Runs every test of OnDemand Proxy: the web UI's lint, type check, unit tests and build;
# Rust format, lints, unit and black-box tests; the official OpenAI and Anthropic Python and
# Node SDKs, and Claude Code, against the real binary; the UI end to end in headless Chromium;
# and the desktop app in a real window under Xvfb, driven through WebDriver. On Debian/Ubuntu it
# installs missing system packages (as root, or with sudo); anything it cannot install, it
# names. It also builds the headless server's container image and runs it from its exported
# filesystem.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }
source scripts/deps.sh

step "checking tools"
require_rust
want_build_packages
have python3 || packages+=(python3)
if have python3 && ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then packages+=(python3-venv); fi
chromium=${CHROMIUM:-/usr/bin/chromium}
[ -x "$chromium" ] || packages+=(chromium)
# The desktop app's end-to-end test: a virtual display, WebKitGTK's WebDriver, a session bus.
have Xvfb || packages+=(xvfb)
have WebKitWebDriver || packages+=(webkit2gtk-driver)
have dbus-run-session || packages+=(dbus)
# systemd-analyze: the service unit in packaging/ is checked (this machine need not run systemd).
have systemd-analyze || packages+=(systemd)
# podman: the container image is built (with vfs storage; it is not run, see tests/image).
have podman || packages+=(podman)
# rpm: the desktop app's .rpm is installed with it (on this Debian machine) in the package test.
have rpm || packages+=(rpm)
# xwininfo: the desktop test sees the window the app rebuilds, which WebDriver does not.
have xwininfo || packages+=(x11-utils)
# A CJK font, so the 简体中文 screenshots show characters rather than boxes.
[ -e /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ] || packages+=(fonts-wqy-microhei)
install_packages
require_node

step "web UI: install, lint, type check, unit tests, build"
npm ci --no-audit --no-fund --loglevel=error
npm run --silent ui:lint
npm run --silent ui:test
npm run --silent ui:build

step "format (cargo fmt --check)"
cargo fmt --all -- --check

step "house rules (file sizes, the shell's size)"
bash scripts/dev/house-rules.sh

# The desktop app carries the built UI (tauri's custom-protocol); every step builds it so,
# so the workspace compiles once.
desktop=(--features ondemand-proxy-desktop/custom-protocol)

step "lints (cargo clippy -D warnings)"
cargo clippy --workspace --all-targets --locked "${desktop[@]}" -- -D warnings

step "unit and black-box tests (cargo test)"
cargo test --workspace --locked "${desktop[@]}"

step "the binaries the SDK, agent and end-to-end tests drive"
cargo build --locked "${desktop[@]}" -p ondemand-proxy -p fake-ondemand -p ondemand-proxy-desktop
target_dir=${CARGO_TARGET_DIR:-target}

step "the UI's admin API types match what the server describes"
bash scripts/dev/api-types.sh --check "$target_dir/debug/ondemand-proxy"

step "the systemd unit: valid, and hardened (systemd-analyze security, exposure at most 1.5)"
unit_dir=$(mktemp -d)
# The unit as shipped, pointed at the binary just built (verify checks that it exists).
sed "s|/usr/local/bin/ondemand-proxy|$(realpath "$target_dir/debug/ondemand-proxy")|" packaging/ondemand-proxy.service \
  >"$unit_dir/ondemand-proxy.service"
systemd-analyze verify "$unit_dir/ondemand-proxy.service"
systemd-analyze security --offline=yes --threshold=15 "$unit_dir/ondemand-proxy.service" | tail -1
rm -rf "$unit_dir"

step "the container image: built from scratch, its filesystem exported and run under chroot"
bash tests/image/run.sh

venv="$target_dir/sdk-venv"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check -r tests/sdk/requirements.txt

work=$(mktemp -d)
token="sk-sdk-test-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
# Every process started below writes its pid here (some start inside a command substitution,
# which cannot change this shell's variables); all are stopped on exit.
trap 'kill $(cat "$work/pids" 2>/dev/null) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT
# Waits for the line `marker` in `file` written by process `pid`; prints the rest of it.
wait_for() { # file marker pid
  for _ in $(seq 1 300); do
    grep -q "^$2" "$1" && { sed -n "s/^$2//p" "$1" | head -1; return; }
    kill -0 "$3" 2>/dev/null || { cat "$1" "$1.err" >&2; echo "exited at start" >&2; exit 1; }
    sleep 0.1
  done
  echo "no '$2' in $1" >&2; exit 1
}
# No rate limit: the suites share one token and together send close to the default 60
# requests a minute (the limit has its own black-box tests).
serve() { # name, then NAME=value environment and --flags for `serve`
  local name=$1 env=() flags=(); shift
  for a in "$@"; do if [[ $a == --* ]]; then flags+=("$a"); else env+=("$a"); fi; done
  env RATE_LIMIT=0 API_ACCESS_TOKEN="$token" "${env[@]}" "$target_dir/debug/ondemand-proxy" serve \
    "${flags[@]}" --port 0 --data-dir "$work/data-$name" >"$work/$name" 2>"$work/$name.err" &
  echo $! >>"$work/pids"
  wait_for "$work/$name" 'OpenAI base URL: ' $!
}
use_proxy() { # OpenAI base URL
  export OPENAI_BASE_URL="$1" OPENAI_API_KEY="$token"
  export ANTHROPIC_BASE_URL="${1%/v1}" ANTHROPIC_API_KEY="$token"
}

# The SDK suites go through a proxy whose upstream speaks HTTPS with HTTP/2, as on-demand.io
# does: the fake with a CA of its own, which the proxy is told to trust.
"$target_dir/debug/fake-ondemand" --tls --ca-out "$work/ca.pem" \
  --answer-prefix "[Simulated answer: the tests' fake on-demand.io over HTTPS] You said: " \
  >"$work/fake" 2>"$work/fake.err" &
echo $! >>"$work/pids"
fake_url=$(wait_for "$work/fake" 'fake on-demand.io listening on ' $!)
base_url=$(serve sdk ONDEMAND_BASE_URL="$fake_url" ONDEMAND_CA_FILE="$work/ca.pem" \
  ONDEMAND_ACCOUNTS='[{"api_key": "sdk-suite-key", "name": "sdk"}]')
use_proxy "$base_url"
echo "proxy at $base_url, upstream $fake_url (HTTPS, HTTP/2)"

step "OpenAI Python SDK (pytest)"
"$venv/bin/python" -m pytest -q -p no:cacheprovider tests/sdk/test_python_sdk.py

step "OpenAI Node SDK (node --test)"
node --test tests/sdk/node_sdk.test.mjs

step "Anthropic Python SDK (pytest)"
"$venv/bin/python" -m pytest -q -p no:cacheprovider tests/sdk/test_anthropic_sdk.py

step "Anthropic Node SDK (node --test)"
node --test tests/sdk/anthropic_sdk.test.mjs

# The agents' demo server asks for the demo over HTTPS and HTTP/2 (--demo-tls), so real Claude
# Code and Codex run their tool round trips through the TLS path on-demand.io is reached by.
base_url=$(serve demo --demo-tls)
use_proxy "$base_url"
# `ondemand-proxy connect` in the agents suite reads this server's data directory.
export ODP_BIN="$target_dir/debug/ondemand-proxy" ODP_DATA_DIR="$work/data-demo"
echo "proxy (demo mode) at $base_url"

step "coding agents from npm, pinned: claude -p and codex exec"
npm ci --prefix tests/agents --no-audit --no-fund --loglevel=error
node --test tests/agents/*.test.mjs

step "web UI end to end (the binary in demo mode, headless Chromium, the Node SDK)"
abs_target=$(cd "$target_dir" && pwd)
ODP_BIN="$abs_target/debug/ondemand-proxy" CHROMIUM="$chromium" SCREENSHOTS="$abs_target/ui-screenshots" \
  npm run --silent ui:e2e
echo "screenshots of every page in both languages: $target_dir/ui-screenshots"

step "desktop app end to end (the real window under Xvfb, through tauri-driver and WebKitWebDriver)"
tools="$abs_target/tools"
[ -x "$tools/bin/tauri-driver" ] || cargo install --locked --quiet tauri-driver --version 2.1.0 --root "$tools"
ODP_DESKTOP_BIN="$abs_target/debug/ondemand-proxy-desktop" ODP_BIN="$abs_target/debug/ondemand-proxy" \
  FAKE_BIN="$abs_target/debug/fake-ondemand" TAURI_DRIVER="$tools/bin/tauri-driver" \
  SCREENSHOTS="$abs_target/desktop-screenshots" npm run --silent desktop:e2e
echo "screenshots of the real window: $target_dir/desktop-screenshots"

step "desktop packages: the .deb and the .rpm install, start, serve and uninstall cleanly"
bash tests/packages/run.sh

step "all tests passed"
