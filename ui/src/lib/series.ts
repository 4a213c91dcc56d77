// Shapes API results into what the charts draw.

import type { Bucket, Share } from '../api/types';

export interface SeriesData {
  starts: number[];
  requests: number[];
  errors: number[];
  inputTokens: number[];
  outputTokens: number[];
}

export function toSeries(buckets: Bucket[]): SeriesData {
  return {
    starts: buckets.map((b) => b.start),
    requests: buckets.map((b) => b.requests),
    errors: buckets.map((b) => b.requests - b.successes),
    inputTokens: buckets.map((b) => b.input_tokens),
    outputTokens: buckets.map((b) => b.output_tokens),
  };
}

/** The largest `max - 1` shares, and the rest summed as `other`. */
export function topShares(shares: Share[], max: number, other: string): { name: string; value: number }[] {
  const sorted = [...shares].sort((a, b) => b.requests - a.requests);
  const head = sorted.slice(0, Math.max(0, max - 1)).map((s) => ({ name: s.key || '—', value: s.requests }));
  const rest = sorted.slice(Math.max(0, max - 1));
  if (rest.length === 1) head.push({ name: rest[0].key || '—', value: rest[0].requests });
  else if (rest.length > 1) head.push({ name: other, value: rest.reduce((n, s) => n + s.requests, 0) });
  return head.filter((s) => s.value > 0);
}

/** Requests and tokens per key, for a table beside a chart (e.g. per account today). */
export function byKey(shares: Share[] | undefined): Map<string, Share> {
  return new Map((shares ?? []).map((s) => [s.key, s]));
}
