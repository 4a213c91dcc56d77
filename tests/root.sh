# Sourced by the tests that install, mount or chroot (tests/image, tests/packages): `fail`,
# and `$sudo`, empty as root, else `sudo` (or a clear stop when there is none).
fail() { echo "${test_name:-test}: $*" >&2; exit 1; }
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || fail "this needs root (install, mount, chroot): run as root, or install sudo"
  sudo="sudo"
fi
