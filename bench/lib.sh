# Shared by the benchmark scripts: processes to stop on exit, and waiting for a line.
work=$(mktemp -d)
pids=()
# Processes started inside a command substitution cannot add to `pids`: they write their pid
# to $work/pids instead.
cleanup() {
  [ -f "$work/pids" ] && mapfile -t -O "${#pids[@]}" pids <"$work/pids"
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

wait_line() { # file, marker -> the rest of the first line holding it
  for _ in $(seq 1 200); do
    line=$(grep -m1 "$2" "$1" || true)
    [ -n "$line" ] && { echo "${line#*"$2"}"; return; }
    sleep 0.05
  done
  echo "timed out waiting for '$2' in $1" >&2; exit 1
}
