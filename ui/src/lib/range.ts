// Time ranges in the reader's time zone.

export type RangeKey = 'today' | '7d' | '30d';

/** Local midnight of the day holding `now`. */
export function startOfDay(now: number): number {
  const d = new Date(now);
  d.setHours(0, 0, 0, 0);
  return d.getTime();
}

/** `[from, to)` in Unix ms: today since local midnight, or the last 7 or 30 local days. */
export function rangeBounds(key: RangeKey, now: number): { from: number; to: number } {
  const midnight = startOfDay(now);
  const days = key === 'today' ? 0 : key === '7d' ? 6 : 29;
  const from = new Date(midnight);
  from.setDate(from.getDate() - days);
  return { from: from.getTime(), to: now };
}

/** Minutes east of UTC, as the API's `tz_offset` wants (UTC+8 is 480). */
export function tzOffsetMinutes(at: number): number {
  return -new Date(at).getTimezoneOffset();
}
