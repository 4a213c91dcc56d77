// The live event stream (`/api/events`): read with fetch, so the desktop's bearer
// credential can be sent (EventSource cannot send headers), parsed by eventsource-parser.
// Finished requests refresh the statistics; ticks carry the live rates.

import { useEffect, useState } from 'react';
import { useQueryClient } from '@tanstack/react-query';
import { createParser } from 'eventsource-parser';
import { headers, url } from './client';
import { keys } from './hooks';
import type { RequestRow, Tick } from './types';

export interface LiveState {
  connected: boolean;
  tick: Tick | null;
  /** The newest finished requests, newest first (at most 50). */
  recent: RequestRow[];
}

const RECENT = 50;

export function useLive(enabled: boolean): LiveState {
  const client = useQueryClient();
  const [state, setState] = useState<LiveState>({ connected: false, tick: null, recent: [] });
  useEffect(() => {
    if (!enabled) return;
    const abort = new AbortController();
    let retry: ReturnType<typeof setTimeout> | undefined;
    const run = async () => {
      try {
        const response = await fetch(url('/api/events'), { headers: headers(false), credentials: 'same-origin', signal: abort.signal });
        if (!response.ok || !response.body) throw new Error(`HTTP ${response.status}`);
        setState((s) => ({ ...s, connected: true }));
        const parser = createParser({
          onEvent(event) {
            if (event.event === 'tick') {
              const tick = JSON.parse(event.data) as Tick;
              setState((s) => ({ ...s, tick }));
            } else if (event.event === 'requests') {
              const { events } = JSON.parse(event.data) as { events: RequestRow[] };
              setState((s) => ({ ...s, recent: [...events.reverse(), ...s.recent].slice(0, RECENT) }));
              // The server sends this at most once per interval, so this is the refresh rate.
              void client.invalidateQueries({ queryKey: keys.stats });
              void client.invalidateQueries({ queryKey: keys.requests });
              void client.invalidateQueries({ queryKey: keys.tokens });
              void client.invalidateQueries({ queryKey: keys.accounts });
            }
          },
        });
        const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          parser.feed(value);
        }
        throw new Error('closed');
      } catch {
        if (abort.signal.aborted) return;
        setState((s) => ({ ...s, connected: false }));
        retry = setTimeout(run, 3000);
      }
    };
    void run();
    return () => {
      abort.abort();
      clearTimeout(retry);
    };
  }, [enabled, client]);
  return state;
}
