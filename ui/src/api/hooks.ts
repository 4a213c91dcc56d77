// Data fetching and caching for every page: one query key per API resource, mutations
// that refresh what they change.

import { useInfiniteQuery, useMutation, useQuery, useQueryClient, keepPreviousData } from '@tanstack/react-query';
import { useState } from 'react';
import { startOfDay } from '../lib/range';
import { byKey } from '../lib/series';
import { api } from './client';
import type { Account, AccountInput, AccountTest, Agent, AgentChange, AgentStatus, RefusalTally, Alias, Bucket, Catalogue, ConnectionTest, ImportReport, NewToken, Overview, Pattern, PatternsView, Probe, Proxy, RequestPage, Session, Setting, Share, Token, TokenInput } from './types';

export const keys = {
  accounts: ['accounts'] as const,
  tokens: ['tokens'] as const,
  aliases: ['aliases'] as const,
  patterns: ['patterns'] as const,
  settings: ['settings'] as const,
  stats: ['stats'] as const,
  requests: ['requests'] as const,
  agents: ['agents'] as const,
};

const list = <T,>(path: string) => () => api<{ data: T[] }>(path).then((r) => r.data);

/** An account as listed: `retry_until` is when `retry_in_s` runs out (Unix ms). */
export type { AccountInput, TokenInput };

export type ListedAccount = Account & { retry_until?: number | null };

/** Accounts, with `retry_in_s` turned into a deadline when they arrive, so a countdown
 * stays right however long ago they were fetched. */
export const useAccounts = () =>
  useQuery({
    queryKey: keys.accounts,
    queryFn: () =>
      list<Account>('/api/accounts')().then((accounts) => {
        const now = Date.now();
        return accounts.map((a): ListedAccount => ({ ...a, retry_until: a.retry_in_s == null ? null : now + a.retry_in_s * 1000 }));
      }),
  });
export const useTokens = () => useQuery({ queryKey: keys.tokens, queryFn: list<Token>('/api/tokens') });
export const useAliases = () => useQuery({ queryKey: keys.aliases, queryFn: list<Alias>('/api/aliases') });
export const useSettings = () => useQuery({ queryKey: keys.settings, queryFn: list<Setting>('/api/settings') });

export function useOverview(from: number, to?: number) {
  return useQuery({
    queryKey: [...keys.stats, 'overview', from, to],
    queryFn: () => api<Overview>('/api/stats/overview', { query: { from, to } }),
    placeholderData: keepPreviousData,
  });
}

export function useSeries(bucket: 'hour' | 'day', from: number | undefined, tzOffset: number, to?: number) {
  return useQuery({
    queryKey: [...keys.stats, 'series', bucket, from, to, tzOffset],
    queryFn: () =>
      api<{ data: Bucket[] }>('/api/stats/series', { query: { bucket, from, to, tz_offset: tzOffset } }).then((r) => r.data),
    placeholderData: keepPreviousData,
  });
}

/** Today's usage by account or token name (today as when the page opened). */
export function useUsageToday(by: 'account' | 'token') {
  const [today] = useState(() => startOfDay(Date.now()));
  return byKey(useBreakdown(by, today).data);
}

export function useBreakdown(by: 'model' | 'account' | 'token' | 'dialect' | 'client', from: number, to?: number) {
  return useQuery({
    queryKey: [...keys.stats, 'breakdown', by, from, to],
    queryFn: () => api<{ data: Share[] }>('/api/stats/breakdown', { query: { by, from, to } }).then((r) => r.data),
    placeholderData: keepPreviousData,
  });
}

export interface RequestFilters {
  outcome?: 'ok' | 'error' | '';
  model?: string;
  token?: string;
  account?: string;
  from?: number;
}

export function useRequestLog(filters: RequestFilters) {
  return useInfiniteQuery({
    queryKey: [...keys.requests, filters],
    initialPageParam: null as number | null,
    queryFn: ({ pageParam, signal }) =>
      api<RequestPage>('/api/requests', {
        query: { ...filters, before: pageParam, limit: 100 },
        signal,
      }),
    getNextPageParam: (last) => last.next_before,
  });
}

/** Refusals of the last hour counted beyond the log's samples (one per kind and minute). */
export const useRefusals = () =>
  useQuery({
    queryKey: [...keys.requests, 'refusals'],
    queryFn: () => api<{ data: RefusalTally[] }>('/api/requests/refusals').then((r) => r.data),
    refetchInterval: 15_000,
  });

/** A mutation that refreshes `invalidate` when it succeeds. */
function useChange<TInput, TOutput>(fn: (input: TInput) => Promise<TOutput>, invalidate: readonly (readonly string[])[]) {
  const client = useQueryClient();
  return useMutation({
    mutationFn: fn,
    onSuccess: () => Promise.all(invalidate.map((key) => client.invalidateQueries({ queryKey: key }))),
  });
}

export const useCreateAccount = () =>
  useChange((input: AccountInput) => api<Account>('/api/accounts', { method: 'POST', body: input }), [keys.accounts, keys.stats]);
export const useUpdateAccount = () =>
  useChange(({ id, ...input }: AccountInput & { id: number }) => api<Account>(`/api/accounts/${id}`, { method: 'PATCH', body: input }), [keys.accounts]);
export const useDeleteAccount = () =>
  useChange((id: number) => api<void>(`/api/accounts/${id}`, { method: 'DELETE' }), [keys.accounts]);
export const useResetAccount = () =>
  useChange((id: number) => api<Account>(`/api/accounts/${id}/reset`, { method: 'POST' }), [keys.accounts]);
/** Settings → Network: a connection test of the settings' way, or one account's. */
export const useTestConnection = () =>
  useMutation({ mutationFn: (body: ConnectionTest) => api<Probe>('/api/network/test', { method: 'POST', body }) });

export const useTestAccount = () =>
  useChange((id: number) => api<AccountTest>(`/api/accounts/${id}/test`, { method: 'POST' }), [keys.accounts]);

/** Adds the simulated account of *Try the demo*, or ends the demo (removes it). */
export const useStartDemo = () => useChange(() => api<Account>('/api/demo', { method: 'POST' }), [keys.accounts, keys.stats]);
export const useEndDemo = () => useChange(() => api<void>('/api/demo', { method: 'DELETE' }), [keys.accounts, keys.stats]);

export const useCreateToken = () =>
  useChange((input: TokenInput) => api<NewToken>('/api/tokens', { method: 'POST', body: input }), [keys.tokens]);
export const useUpdateToken = () =>
  useChange(({ id, ...input }: TokenInput & { id: number }) => api<Token>(`/api/tokens/${id}`, { method: 'PATCH', body: input }), [keys.tokens]);
export const useDeleteToken = () =>
  useChange((id: number) => api<void>(`/api/tokens/${id}`, { method: 'DELETE' }), [keys.tokens]);

/** The coding agents one click can point here (Claude Code, Codex), and that click. */
export const useAgents = () => useQuery({ queryKey: keys.agents, queryFn: list<AgentStatus>('/api/clients') });
type AgentCall = { agent: Agent; token?: string };
export const usePreviewAgent = () =>
  useMutation({ mutationFn: ({ agent, token }: AgentCall) => api<AgentChange>(`/api/clients/${agent}/preview`, { method: 'POST', body: { token } }) });
export const useApplyAgent = () =>
  useChange(({ agent, token }: AgentCall) => api<AgentChange>(`/api/clients/${agent}/apply`, { method: 'POST', body: { token } }), [keys.agents]);
export const useUndoAgent = () =>
  useChange((agent: Agent) => api<AgentChange>(`/api/clients/${agent}/undo`, { method: 'POST' }), [keys.agents]);

export const useCreateAlias = () =>
  useChange((input: { alias: string; endpoint_id: string }) => api('/api/aliases', { method: 'POST', body: input }), [keys.aliases]);
export const usePutAlias = () =>
  useChange(({ alias, endpoint_id }: { alias: string; endpoint_id: string }) =>
    api(`/api/aliases/${encodeURIComponent(alias)}`, { method: 'PUT', body: { endpoint_id } }), [keys.aliases]);
export const useDeleteAlias = () =>
  useChange((alias: string) => api<void>(`/api/aliases/${encodeURIComponent(alias)}`, { method: 'DELETE' }), [keys.aliases]);

export const usePatterns = () => useQuery({ queryKey: keys.patterns, queryFn: () => api<PatternsView>('/api/patterns') });
export const usePutPatterns = () =>
  useChange((patterns: Pattern[]) => api<PatternsView>('/api/patterns', { method: 'PUT', body: { patterns } }), [keys.patterns]);
export const useResetPatterns = () =>
  useChange(() => api<PatternsView>('/api/patterns', { method: 'DELETE' }), [keys.patterns]);

export const useUpdateSettings = () =>
  useChange((changes: Record<string, unknown>) =>
    api<{ data: Setting[] }>('/api/settings', { method: 'PATCH', body: changes }), [keys.settings]);

export const useImport = () =>
  useChange(({ doc, mode }: { doc: unknown; mode: 'skip' | 'replace' }) =>
    api<ImportReport>('/api/import', { method: 'POST', body: doc, query: { mode } }), [keys.accounts, keys.tokens, keys.aliases]);

/** Whether `/v1/*` is paused; the live tick keeps it current. */
export const useProxy = () => useQuery({ queryKey: ['proxy'], queryFn: () => api<Proxy>('/api/proxy') });

export const useCatalogue = () => useQuery({ queryKey: ['catalogue'], queryFn: () => api<Catalogue>('/api/catalogue') });

/** Reads every account's catalogue now; the models and aliases follow it. */
export function useRefreshCatalogue() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: () => api<Catalogue>('/api/catalogue/refresh', { method: 'POST' }),
    onSuccess: (data) => {
      client.setQueryData(['catalogue'], data);
      return client.invalidateQueries({ queryKey: keys.aliases });
    },
  });
}

export function useSetPaused() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (paused: boolean) => api<Proxy>('/api/proxy', { method: 'PUT', body: { paused } }),
    onSuccess: (data) => client.setQueryData(['proxy'], data),
  });
}

/** Who is signed in to what: the proxy's version, and whether its upstream is the
 * simulated one (`--demo`). */
export function useSession() {
  return useQuery({ queryKey: ['session'], queryFn: () => api<Session>('/api/session'), retry: false });
}
