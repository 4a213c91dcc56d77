#!/usr/bin/env bash
# Builds the headless server's container image, `ondemand-proxy:<version>`, from scratch: no
# base image is pulled (no registry is needed). It holds the release binary, the C runtime it
# links against (copied from this machine with its loader, so it runs on any x86-64 Linux
# host whatever its own libc), CA certificates, a non-root user (10001) and /data.
# Usage: scripts/image.sh [--tar FILE]   (--tar also saves the image as an OCI archive)
set -euo pipefail
cd "$(dirname "$0")/.."
have() { command -v "$1" >/dev/null 2>&1; }
have podman || { echo "Missing: podman (apt-get install podman)." >&2; exit 1; }

version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
tag="ondemand-proxy:$version"
target=${CARGO_TARGET_DIR:-target}
cargo build --release --locked -q -p ondemand-proxy
bin="$target/release/ondemand-proxy"

context="$target/image"
rm -rf "$context"
root="$context/rootfs"
mkdir -p "$root/usr/local/bin" "$root/etc/ssl/certs" "$root/tmp" "$context/owned/data"
install -m 0755 "$bin" "$root/usr/local/bin/ondemand-proxy"
strip "$root/usr/local/bin/ondemand-proxy" 2>/dev/null || true
# The shared libraries and the loader, at the paths the binary asks for.
ldd "$bin" | awk '/=> \// {print $3} /^\t\// {print $1}' | while read -r lib; do
  mkdir -p "$root$(dirname "$lib")"
  cp -L "$lib" "$root$lib"
done
cp -L /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/" 2>/dev/null ||
  { echo "Missing: CA certificates (apt-get install ca-certificates)." >&2; exit 1; }
printf 'root:x:0:0:root:/:/nonexistent\nproxy:x:10001:10001:OnDemand Proxy:/data:/nonexistent\n' >"$root/etc/passwd"
printf 'root:x:0:\nproxy:x:10001:\n' >"$root/etc/group"
chmod 1777 "$root/tmp"
# The data directory is for the proxy's user alone (the Containerfile makes it its owner).
chmod 0700 "$context/owned/data"

podman build --quiet --storage-driver vfs --format oci -f packaging/Containerfile -t "$tag" "$context" >/dev/null
size=$(podman image inspect --storage-driver vfs --format '{{.Size}}' "$tag")
echo "built $tag ($((size / 1024 / 1024)) MiB)"
if [ "${1:-}" = "--tar" ] && [ -n "${2:-}" ]; then
  podman save --storage-driver vfs --format oci-archive -o "$2" "$tag"
  echo "saved to $2"
fi
