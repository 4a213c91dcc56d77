#!/usr/bin/env bash
# Builds OnDemand Proxy for Windows (x86_64, the GNU target) on Debian/Ubuntu, with Debian's
# packages and crates.io only, into target/windows/:
# - ondemand-proxy.exe: the headless server and CLI, release;
# - ondemand-proxy-desktop.exe with WebView2Loader.dll: the desktop app, release, no console;
# - OnDemandProxy-setup.exe: the per-user installer (packaging/windows/installer.nsi).
# rustup cannot download Windows targets here, so the standard library is built from source
# (Debian's rustc-web and rust-web-src, with -Zbuild-std) and linked by MinGW-w64.
# Usage: scripts/windows.sh [server|desktop|installer]…  (all three when none is named)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh

parts=" ${*:-server desktop installer} "
want() { [[ $parts == *" $1 "* ]]; }

# Debian's compiler, not rustup's: it ships the standard library's source for -Zbuild-std.
rustc=/usr/bin/rustc cargo=/usr/bin/cargo
[ -x "$rustc" ] && [ -x "$cargo" ] || packages+=(rustc-web cargo-web)
[ -d /usr/lib/rustlib/src/rust/library ] || packages+=(rust-web-src)
have x86_64-w64-mingw32-gcc || packages+=(gcc-mingw-w64-x86-64)
have x86_64-w64-mingw32-g++ || packages+=(g++-mingw-w64-x86-64)
want installer && { have makensis || packages+=(nsis); }
# Node.js builds the web UI both programs embed (the desktop's Linux libraries are not needed).
if ! have node || ! have npm; then packages+=(nodejs npm); fi
install_packages
require_node

target=x86_64-pc-windows-gnu
root=${CARGO_TARGET_DIR:-target}
build="$root/windows-build"
out="$root/windows"
mkdir -p "$out"
export RUSTC="$rustc" RUSTC_BOOTSTRAP=1
export CARGO_TARGET_X86_64_PC_WINDOWS_GNU_LINKER=x86_64-w64-mingw32-gcc
export CC_x86_64_pc_windows_gnu=x86_64-w64-mingw32-gcc CXX_x86_64_pc_windows_gnu=x86_64-w64-mingw32-g++
export AR_x86_64_pc_windows_gnu=x86_64-w64-mingw32-ar
cross() { "$cargo" build -Zbuild-std=std,panic_abort --target "$target" --target-dir "$build" --release --locked "$@"; }
release="$build/$target/release"

# The web UI is embedded in both programs: built first, if it is not yet.
[ -f ui/dist/index.html ] || { npm ci --no-audit --no-fund --loglevel=error && npm run --silent ui:build; }

if want server || want installer; then
  echo "==> the headless server (ondemand-proxy.exe)"
  cross -p ondemand-proxy --bin ondemand-proxy
  # Shipped without its symbols and line tables (the build keeps them).
  x86_64-w64-mingw32-strip --strip-all -o "$out/ondemand-proxy.exe" "$release/ondemand-proxy.exe"
fi
if want desktop || want installer; then
  echo "==> the desktop app (ondemand-proxy-desktop.exe, WebView2Loader.dll)"
  cross -p ondemand-proxy-desktop --features ondemand-proxy-desktop/custom-protocol
  x86_64-w64-mingw32-strip --strip-all -o "$out/ondemand-proxy-desktop.exe" "$release/ondemand-proxy-desktop.exe"
  # The exe loads WebView2Loader.dll at run time; the build leaves it beside the exe.
  cp "$release/WebView2Loader.dll" "$out/"
fi
if want installer; then
  echo "==> the installer (OnDemandProxy-setup.exe)"
  version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
  makensis -V2 -DVERSION="$version" -DSOURCE="$(realpath "$out")" -DOUTFILE="$(realpath "$out")/OnDemandProxy-setup.exe" \
    -DICON="$(realpath icons/icon.ico)" packaging/windows/installer.nsi
fi
ls -l "$out"
