// *Diagnose*: `POST /api/doctor` answers JSON lines, each step as it ends and then the run,
// so the dashboard can show the steps as they run.

import { useCallback, useState } from 'react';
import { ApiError, errorFrom, headers, url } from './client';
import type { DoctorAsk, DoctorLine, DoctorRun, DoctorStep } from './types';

export interface DoctorState {
  running: boolean;
  /** The steps so far, by account (its hash), in the order they ended. */
  steps: [string, DoctorStep[]][];
  run: DoctorRun | null;
  error: unknown;
}

const idle: DoctorState = { running: false, steps: [], run: null, error: null };

/** Runs the checkup, reading its lines as they come. */
export function useDoctorRun(): [DoctorState, (ask: DoctorAsk) => Promise<void>] {
  const [state, setState] = useState<DoctorState>(idle);
  const start = useCallback(async (ask: DoctorAsk) => {
    setState({ ...idle, running: true });
    const take = (line: DoctorLine) =>
      setState((s) => {
        if (line.done) return { ...s, run: line.done };
        if (!line.step || !line.account) return s;
        const steps = [...s.steps];
        const at = steps.findIndex(([account]) => account === line.account);
        if (at < 0) steps.push([line.account, [line.step]]);
        else steps[at] = [line.account, [...steps[at][1], line.step]];
        return { ...s, steps };
      });
    try {
      const response = await fetch(url('/api/doctor'), {
        method: 'POST',
        headers: headers(true),
        body: JSON.stringify(ask),
        credentials: 'same-origin',
      });
      if (!response.ok || !response.body) {
        const text = await response.text();
        let body: unknown = null;
        try {
          body = JSON.parse(text);
        } catch {
          // Not JSON: the status says it.
        }
        throw errorFrom(response.status, body);
      }
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffered = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffered += value;
        let end;
        while ((end = buffered.indexOf('\n')) >= 0) {
          const line = buffered.slice(0, end).trim();
          buffered = buffered.slice(end + 1);
          if (line) take(JSON.parse(line) as DoctorLine);
        }
      }
      setState((s) => ({ ...s, running: false }));
    } catch (e) {
      const error = e instanceof ApiError ? e : new ApiError(0, 'network');
      setState((s) => ({ ...s, running: false, error }));
    }
  }, []);
  return [state, start];
}
