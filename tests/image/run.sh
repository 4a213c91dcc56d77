#!/usr/bin/env bash
# The container image, tested where containers cannot run: this sandbox refuses the cgroups and
# rlimits `podman run` needs. So the image is built (scripts/image.sh), its filesystem exported
# (podman create + podman export), and its entrypoint run from it under chroot, as the image's
# user, with the image's environment and a data directory bind-mounted at /data as a volume
# would be. Checked: the first start generates the token and the admin password into /data and
# prints only where they are; /v1/models; a demo chat; and after a restart, the same
# credentials and the usage written before it. Loopback only.
set -euo pipefail
cd "$(dirname "$0")/../.."
test_name="image test"
source tests/root.sh

built=$(scripts/image.sh)
echo "$built"
tag=$(echo "$built" | sed -n 's/^built \([^ ]*\) .*/\1/p')
work=$(mktemp -d)
root="$work/rootfs"
data="$work/volume"
proxy=""
cleanup() {
  [ -n "$proxy" ] && kill "$proxy" 2>/dev/null && wait "$proxy" 2>/dev/null
  mountpoint -q "$root/data" 2>/dev/null && $sudo umount "$root/data"
  [ -n "${cid:-}" ] && podman rm --storage-driver vfs "$cid" >/dev/null 2>&1
  $sudo rm -rf "$work"
}
trap cleanup EXIT

cid=$(podman create --storage-driver vfs "$tag")
mkdir -p "$root" "$data"
podman export --storage-driver vfs "$cid" | $sudo tar --numeric-owner -x -C "$root"
# What the image says to run, as whom, with what environment.
config=$(podman image inspect --storage-driver vfs --format '{{json .Config}}' "$tag")
field() { python3 -c 'import json, sys; c = json.loads(sys.argv[1]); v = c.get(sys.argv[2]) or []; print("\n".join(v) if isinstance(v, list) else v)' "$config" "$1"; }
mapfile -t entrypoint < <(field Entrypoint)
mapfile -t cmd < <(field Cmd)
mapfile -t environment < <(field Env)
user=$(field User)
[ "$user" = "10001:10001" ] || fail "the image runs as '$user', not the proxy's own user"
[ "${cmd[*]}" = "serve --host 0.0.0.0" ] || fail "the image's command is '${cmd[*]}'"
[ -d "$root/data" ] && [ "$(stat -c %a "$root/data")" = 700 ] || fail "/data in the image is not 0700"
[ "$(stat -c %u:%g "$root/data")" = "10001:10001" ] || fail "/data in the image is not the proxy user's"
# No shell, no package manager: the proxy and its runtime only.
[ ! -e "$root/bin/sh" ] || fail "the image has a shell"

start() { # a start of the image's entrypoint, with its command plus the demo and any free port
  $sudo env -i "${environment[@]}" "$(command -v chroot)" --userspec="$user" "$root" \
    "${entrypoint[@]}" "${cmd[@]}" --demo --port 0 >"$work/out" 2>"$work/err" &
  proxy=$!
  for _ in $(seq 1 100); do
    grep -q '^OpenAI base URL:' "$work/out" && break
    kill -0 "$proxy" 2>/dev/null || { cat "$work/err" >&2; fail "the proxy exited at start"; }
    sleep 0.1
  done
  port=$(sed -n 's|^OpenAI base URL: http://[^:]*:\([0-9]*\)/v1$|\1|p' "$work/out")
  [ -n "$port" ] || { cat "$work/out" "$work/err" >&2; fail "no URL printed"; }
  base="http://127.0.0.1:$port"
}
stop() {
  kill -TERM "$proxy"
  wait "$proxy" || fail "the proxy did not stop cleanly"
  proxy=""
}

# Without a volume (and what a fresh named volume starts as): the image's own /data, which
# its user must be able to write.
start
$sudo test -s "$root/data/client_token" || fail "the proxy could not write the image's own /data"
stop

# The volume: a host directory owned by the image's user, mounted at /data.
$sudo chown 10001:10001 "$data"
$sudo chmod 0700 "$data"
$sudo mount --bind "$data" "$root/data"
start
# Generated, stored in the volume, and only where they are is printed (the output is a log).
$sudo test -s "$data/client_token" -a -s "$data/admin_password" || fail "no credentials generated in /data"
token=$($sudo cat "$data/client_token")
admin=$($sudo cat "$data/admin_password")
grep -q 'Client token: generated now and stored in /data/client_token' "$work/out" || { cat "$work/out"; fail "the first start did not say where the token is"; }
grep -q 'Admin password for /api: generated now and stored in /data/admin_password' "$work/out" || { cat "$work/out"; fail "the first start did not say where the admin password is"; }
if grep -qF "$token" "$work/out" "$work/err" || grep -qF "$admin" "$work/out" "$work/err"; then
  fail "a generated secret was printed to the log"
fi
[ "$($sudo stat -c %a "$data/client_token")" = 600 ] || fail "the token file is not 0600"

curl -sf -H "Authorization: Bearer $token" "$base/v1/models" >"$work/models" || fail "/v1/models failed"
grep -q '"object":"list"' "$work/models" || fail "/v1/models: $(cat "$work/models")"
[ "$(curl -s -o /dev/null -w '%{http_code}' "$base/v1/models")" = 401 ] || fail "/v1/models answers without a token"
curl -sf -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
  -d '{"model": "gpt-4o", "messages": [{"role": "user", "content": "hello from the image"}]}' \
  "$base/v1/chat/completions" >"$work/chat" || fail "the demo chat failed"
grep -q 'Simulated answer.*hello from the image' "$work/chat" || fail "demo chat: $(cat "$work/chat")"
stop

# A second start on the same volume: the same credentials, and the usage written before.
start
grep -q 'Client token: stored in /data/client_token' "$work/out" || { cat "$work/out"; fail "the restart did not reuse the stored token"; }
curl -sf -H "Authorization: Bearer $admin" "$base/api/stats/overview?from=0" >"$work/overview" || fail "the admin API refused the stored password"
python3 -c 'import json, sys; o = json.load(open(sys.argv[1])); sys.exit(0 if o["requests"] >= 1 else 1)' "$work/overview" ||
  fail "the usage written before the restart is gone: $(cat "$work/overview")"
stop
echo "image test: the exported image ran under chroot, answered, and kept its data across a restart"
