import { createContext, useContext } from 'react';
import type { LiveState } from '../api/live';

export const LiveContext = createContext<LiveState>({ connected: false, tick: null, recent: [] });

export const useLiveState = () => useContext(LiveContext);
