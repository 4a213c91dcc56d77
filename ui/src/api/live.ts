// The live event stream (`/api/events`): read with fetch, so the desktop's bearer
// credential can be sent (EventSource cannot send headers), parsed by eventsource-parser.
// Finished requests refresh the statistics; ticks carry the live rates.
//
// A page nobody sees (a hidden tab, the desktop window closed to the tray) keeps no stream
// open and redraws nothing; it catches up when shown again. A tick that says what the last
// one said (an idle proxy) changes nothing on screen, so it is not passed on.

import { useEffect, useRef, useState } from 'react';
import { useQueryClient } from '@tanstack/react-query';
import { createParser } from 'eventsource-parser';
import { api, headers, url } from './client';
import { keys } from './hooks';
import type { RequestPage, RequestRow, Tick } from './types';

export interface LiveState {
  connected: boolean;
  tick: Tick | null;
  /** The newest finished requests, newest first (at most 50). */
  recent: RequestRow[];
}

const RECENT = 50;

/** Whether the page can be seen (`visibilitychange`). */
function usePageVisible(): boolean {
  const [visible, setVisible] = useState(() => document.visibilityState !== 'hidden');
  useEffect(() => {
    const changed = () => setVisible(document.visibilityState !== 'hidden');
    document.addEventListener('visibilitychange', changed);
    return () => document.removeEventListener('visibilitychange', changed);
  }, []);
  return visible;
}

export function useLive(enabled: boolean): LiveState {
  const client = useQueryClient();
  const visible = usePageVisible();
  const [state, setState] = useState<LiveState>({ connected: false, tick: null, recent: [] });
  const hidden = useRef(false);
  useEffect(() => {
    if (!enabled) return;
    if (!visible) {
      hidden.current = true;
      return;
    }
    if (hidden.current) {
      // Back in view: what finished meanwhile is read afresh, the newest requests too.
      hidden.current = false;
      void client.invalidateQueries();
      api<RequestPage>('/api/requests', { query: { limit: RECENT } }).then(
        (page) => setState((s) => ({ ...s, recent: page.data })),
        () => undefined,
      );
    }
    const abort = new AbortController();
    let retry: ReturnType<typeof setTimeout> | undefined;
    let lastTick = '';
    const run = async () => {
      try {
        const response = await fetch(url('/api/events'), { headers: headers(false), credentials: 'same-origin', signal: abort.signal });
        if (!response.ok || !response.body) throw new Error(`HTTP ${response.status}`);
        setState((s) => ({ ...s, connected: true }));
        const parser = createParser({
          onEvent(event) {
            if (event.event === 'tick') {
              const tick = JSON.parse(event.data) as Tick;
              const same = JSON.stringify({ ...tick, ts: 0 });
              if (same === lastTick) return;
              lastTick = same;
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
  }, [enabled, visible, client]);
  return state;
}
