# Sourced by run.sh and test.sh: what they need on a Debian/Ubuntu machine, installed with
# apt (as root, or with sudo) or named exactly when that is not possible.

have() { command -v "$1" >/dev/null 2>&1; }

packages=()

require_rust() {
  if ! have cargo; then
    echo "Missing: the Rust toolchain (cargo, rustc >= 1.85). Install it with rustup (https://rustup.rs), then run this again." >&2
    exit 1
  fi
}

# What building the app needs: a C toolchain, Node.js and npm (the web UI), and the
# WebKitGTK stack the desktop shell links against.
want_build_packages() {
  have cc || packages+=(build-essential)
  if ! have node || ! have npm; then packages+=(nodejs npm); fi
  have pkg-config || packages+=(pkg-config)
  local lib
  for lib in webkit2gtk-4.1:libwebkit2gtk-4.1-dev gtk+-3.0:libgtk-3-dev \
    ayatana-appindicator3-0.1:libayatana-appindicator3-dev librsvg-2.0:librsvg2-dev libsoup-3.0:libsoup-3.0-dev; do
    have pkg-config && pkg-config --exists "${lib%%:*}" || packages+=("${lib#*:}")
  done
}

install_packages() {
  ((${#packages[@]})) || return 0
  local sudo
  if [ "$(id -u)" -eq 0 ]; then sudo=""; elif have sudo; then sudo="sudo"; else
    echo "Missing system packages: ${packages[*]}. Install them (apt-get install ${packages[*]}) and run this again." >&2
    exit 1
  fi
  echo "installing: ${packages[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${packages[@]}" >/dev/null
  packages=()
}

require_node() {
  local major
  major=$(node -p 'process.versions.node.split(".")[0]')
  if [ "$major" -lt 20 ]; then
    echo "Node.js $major is too old; install Node.js 20 or newer (https://nodejs.org, or NodeSource's apt repository)." >&2
    exit 1
  fi
}
