#!/usr/bin/env bash
# The desktop app's Linux packages, the .deb and the .rpm, made by Tauri's bundler from the
# debug build the test command has just compiled (the bundler recompiles only the app's two
# crates, ~15 s; `npm run desktop:deb` / `desktop:rpm` make the release ones the same way).
# Each is installed with its own tool (dpkg; rpm on this Debian machine, without its
# dependency check since the rpm database knows none of Debian's libraries), the installed app
# is started under Xvfb and must serve, and the package is removed: afterwards none of its
# files is left. Loopback only.
set -euo pipefail
cd "$(dirname "$0")/../.."
test_name="package test"
source tests/root.sh
target=${CARGO_TARGET_DIR:-target}
npx tauri build --debug --bundles deb,rpm >"$target/bundle.log" 2>&1 || { cat "$target/bundle.log" >&2; fail "the bundler failed"; }
deb=$(ls "$target"/debug/bundle/deb/*.deb)
rpm=$(ls "$target"/debug/bundle/rpm/*.rpm)
echo "built $(basename "$deb") ($(( $(stat -c %s "$deb") / 1024 / 1024 )) MiB) and $(basename "$rpm") ($(( $(stat -c %s "$rpm") / 1024 / 1024 )) MiB)"

work=$(mktemp -d)
app=""
cleanup() {
  [ -n "$app" ] && kill "$app" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

# The installed app, started as a user would (a display, a session bus, a home of its own), on
# a free port: it must answer /health, then stop gracefully on SIGTERM.
run_installed() { # binary
  local home="$work/home" port
  rm -rf "$home"
  mkdir -p "$home/.config/io.github.ondemand-proxy"
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  echo "{\"port\": $port}" >"$home/.config/io.github.ondemand-proxy/preferences.json"
  HOME="$home" XDG_CONFIG_HOME="$home/.config" XDG_DATA_HOME="$home/.local/share" XDG_CACHE_HOME="$home/.cache" \
    WEBKIT_DISABLE_COMPOSITING_MODE=1 LIBGL_ALWAYS_SOFTWARE=1 \
    xvfb-run -a dbus-run-session -- "$1" >"$work/app.log" 2>&1 &
  app=$!
  for _ in $(seq 1 300); do
    curl -sf -o /dev/null "http://127.0.0.1:$port/health" && break
    kill -0 "$app" 2>/dev/null || { cat "$work/app.log" >&2; fail "the installed app exited at start"; }
    sleep 0.1
  done
  curl -sf -o /dev/null "http://127.0.0.1:$port/health" || { cat "$work/app.log" >&2; fail "the installed app never served"; }
  pkill -TERM -f "^$1" || true
  wait "$app" 2>/dev/null || true
  app=""
  ! pgrep -f "^$1" >/dev/null || fail "the installed app did not stop"
}

# Installed files must all exist, the app must run, and removal must leave none behind.
check() { # kind, package name, file list, install command..., then "--", remove command...
  local kind=$1 name=$2 files=$3; shift 3
  local install=() remove=()
  while [ "$1" != "--" ]; do install+=("$1"); shift; done
  shift; remove=("$@")
  $sudo "${install[@]}" >"$work/install.log" 2>&1 || { cat "$work/install.log" >&2; fail "$kind: install failed"; }
  local binary
  binary=$(grep -m1 '^/usr/bin/' "$files") || fail "$kind: no program in /usr/bin"
  grep -q '^/usr/share/applications/.*\.desktop$' "$files" || fail "$kind: no desktop entry"
  while read -r f; do
    [ -e "$f" ] || fail "$kind: $f is listed but was not installed"
  done <"$files"
  run_installed "$binary"
  $sudo "${remove[@]}" >"$work/remove.log" 2>&1 || { cat "$work/remove.log" >&2; fail "$kind: removal failed"; }
  while read -r f; do
    if [ -f "$f" ] || [ -L "$f" ]; then fail "$kind: $f is left after removing $name"; fi
  done <"$files"
  echo "$kind: $name installed ($(wc -l <"$files") files), started, served and removed cleanly"
}

name=$(dpkg-deb -f "$deb" Package)
dpkg-deb -c "$deb" | grep -v '^d' | sed -E 's#^([^ ]+ +){5}(\./)?#/#' >"$work/deb.files"
check deb "$name" "$work/deb.files" dpkg -i "$deb" -- dpkg -r "$name"

name=$(rpm -qp --qf '%{NAME}' "$rpm" 2>/dev/null)
rpm -qp --qf '[%{FILEMODES:perms} %{FILENAMES}\n]' "$rpm" 2>/dev/null | grep -v '^d' | sed 's/^[^ ]* //' >"$work/rpm.files"
check rpm "$name" "$work/rpm.files" rpm -i --nodeps "$rpm" -- rpm -e --nodeps "$name"
