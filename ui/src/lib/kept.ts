// The client token made in this window, kept in memory while the app runs (never stored):
// a token made on Connect or on Client tokens can still be used after a change of page,
// although the proxy itself never shows a secret again.

import { useSyncExternalStore } from 'react';

export interface KeptToken {
  name: string;
  secret: string;
}

let kept: KeptToken | null = null;
const listeners = new Set<() => void>();

export function keepToken(token: KeptToken | null): void {
  kept = token;
  listeners.forEach((listener) => listener());
}

export function useKeptToken(): KeptToken | null {
  return useSyncExternalStore(
    (listener) => {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    () => kept,
  );
}
