// Numbers, dates and durations in the reader's locale.

export function formatNumber(n: number | null | undefined, locale: string): string {
  if (n === null || n === undefined || Number.isNaN(n)) return '—';
  return new Intl.NumberFormat(locale).format(n);
}

/** 1234567 → "1.2M" (en) / "123.5万" (zh-CN). */
export function formatCompact(n: number | null | undefined, locale: string): string {
  if (n === null || n === undefined || Number.isNaN(n)) return '—';
  return new Intl.NumberFormat(locale, { notation: 'compact', maximumFractionDigits: 1 }).format(n);
}

export function formatPercent(ratio: number | null | undefined, locale: string): string {
  if (ratio === null || ratio === undefined || Number.isNaN(ratio)) return '—';
  return new Intl.NumberFormat(locale, { style: 'percent', maximumFractionDigits: 1 }).format(ratio);
}

/** A size for people: "16 B", "2.4 kB" (decimal units). */
export function formatBytes(n: number, locale: string): string {
  if (n < 1000) return `${formatNumber(n, locale)} B`;
  return `${new Intl.NumberFormat(locale, { maximumFractionDigits: 1 }).format(n / 1000)} kB`;
}

/** Milliseconds for people: "820 ms", "1.4 s", "2 min 5 s". */
export function formatDuration(ms: number | null | undefined, locale: string): string {
  if (ms === null || ms === undefined || Number.isNaN(ms)) return '—';
  const unit = (value: number, u: 'millisecond' | 'second' | 'minute', digits = 0) =>
    new Intl.NumberFormat(locale, { style: 'unit', unit: u, unitDisplay: 'short', maximumFractionDigits: digits }).format(value);
  if (ms < 1000) return unit(Math.round(ms), 'millisecond');
  if (ms < 60_000) return unit(ms / 1000, 'second', 1);
  const minutes = Math.floor(ms / 60_000);
  const seconds = Math.round((ms % 60_000) / 1000);
  return seconds ? `${unit(minutes, 'minute')} ${unit(seconds, 'second')}` : unit(minutes, 'minute');
}

export function formatDateTime(ms: number | null | undefined, locale: string): string {
  if (!ms) return '—';
  return new Intl.DateTimeFormat(locale, { dateStyle: 'medium', timeStyle: 'medium' }).format(new Date(ms));
}

/** A compact date and time for dense tables: "11/26, 09:21:52". */
export function formatShortDateTime(ms: number, locale: string): string {
  return new Intl.DateTimeFormat(locale, { month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit' }).format(new Date(ms));
}

export function formatTime(ms: number, locale: string): string {
  return new Intl.DateTimeFormat(locale, { hour: '2-digit', minute: '2-digit', second: '2-digit' }).format(new Date(ms));
}

/** A chart axis label for a bucket start: an hour or a day. */
export function formatBucket(ms: number, bucket: 'hour' | 'day', locale: string): string {
  const options: Intl.DateTimeFormatOptions =
    bucket === 'hour' ? { hour: '2-digit', minute: '2-digit' } : { month: 'short', day: 'numeric' };
  return new Intl.DateTimeFormat(locale, options).format(new Date(ms));
}
