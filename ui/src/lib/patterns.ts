// Editing the ordered list of model patterns: the whole list is what the server takes.
import type { Pattern } from '../api/types';

/** The list with one entry replaced (`at`), added (`at` null) or removed (`with` null). */
export function edited(list: Pattern[], at: number | null, next: Pattern | null): Pattern[] {
  if (at === null) return next ? [...list, next] : list;
  return next ? list.map((p, i) => (i === at ? next : p)) : list.filter((_, i) => i !== at);
}

/** The list with the entry at `at` moved by `by` places. */
export function moved(list: Pattern[], at: number, by: number): Pattern[] {
  const to = at + by;
  if (to < 0 || to >= list.length) return list;
  const out = [...list];
  [out[at], out[to]] = [out[to], out[at]];
  return out;
}
