#!/usr/bin/env bash
# The house rules the test command keeps (README, Development):
# - no Rust file outside tests holds more than 600 lines (tests: `tests/` folders, `tests.rs`
#   and `*_tests.rs` siblings);
# - the desktop shell (src-tauri/src, tests aside) stays under 500 lines: what needs no window
#   belongs in the server library (`ondemand_proxy::desktop`), where it is tested headless;
# - the core keeps its floors: no module uses one on a floor above its own, and none use each
#   other round a circle (the floors are listed in crates/core/src/lib.rs; floors.py checks).
# Prints every breach and fails if there is one.
set -euo pipefail
cd "$(dirname "$0")/../.."

FILE_LIMIT=600
SHELL_LIMIT=500

is_test() { [[ $1 == */tests/* || $1 == */tests.rs || $1 == *_tests.rs ]]; }

breaches=0
while IFS= read -r file; do
  is_test "$file" && continue
  lines=$(wc -l <"$file")
  if [ "$lines" -gt "$FILE_LIMIT" ]; then
    echo "house rules: $file has $lines lines (at most $FILE_LIMIT; split it by what it holds)" >&2
    breaches=$((breaches + 1))
  fi
done < <(git ls-files --cached --others --exclude-standard -- '*.rs')

shell=0
while IFS= read -r file; do
  is_test "$file" && continue
  shell=$((shell + $(wc -l <"$file")))
done < <(git ls-files --cached --others --exclude-standard -- 'src-tauri/src/*.rs')
if [ "$shell" -gt "$SHELL_LIMIT" ]; then
  echo "house rules: the desktop shell has $shell lines outside tests (at most $SHELL_LIMIT); move what needs no window into crates/server" >&2
  breaches=$((breaches + 1))
fi

python3 scripts/dev/floors.py || breaches=$((breaches + 1))

if [ "$breaches" -gt 0 ]; then
  exit 1
fi
echo "house rules: every Rust file within $FILE_LIMIT lines; the shell at $shell of $SHELL_LIMIT"
