import { useEffect, useMemo, useRef, useState } from 'react';
import { Badge, Card, Drawer, Group, Loader, Select, SegmentedControl, Stack, Table, Text } from '@mantine/core';
import { useVirtualizer } from '@tanstack/react-virtual';
import { useTranslation } from 'react-i18next';
import { type RequestFilters, useAccounts, useRefusals, useRequestLog, useTokens } from '../api/hooks';
import type { RequestRow } from '../api/types';
import { Empty, ErrorAlert, PageHeader } from '../components/common';
import { formatBytes, formatDateTime, formatDuration, formatNumber, formatShortDateTime } from '../lib/format';

const ROW_HEIGHT = 38;
/** Column widths in px; the model column takes the rest, at least 140. */
// Account names run longer than model names ("demo (key-557ef569)"): they get the room.
const COLUMNS = { time: 140, status: 58, token: 100, account: 180, latency: 78, tokens: 72 };
const MIN_WIDTH = Object.values(COLUMNS).reduce((a, b) => a + b, 0) + 140 + 24;
const WINDOWS = { '1h': 3_600_000, '24h': 86_400_000, '7d': 7 * 86_400_000, all: 0 } as const;
type Window = keyof typeof WINDOWS;

/** The refusals of the last hour that the log keeps no row of: beyond each minute's first of
 * a kind (the sample in the log), counted per minute, client token and kind. */
function RefusalTallies() {
  const { t, i18n } = useTranslation();
  const tallies = useRefusals().data ?? [];
  if (tallies.length === 0) return null;
  const total = tallies.reduce((n, r) => n + r.count, 0);
  const time = new Intl.DateTimeFormat(i18n.resolvedLanguage, { hour: '2-digit', minute: '2-digit' });
  return (
    <Card withBorder mb="sm" p="sm" data-testid="refusal-tallies">
      <Text fw={500} size="sm">{t('requests.tallies.title', { n: formatNumber(total, i18n.resolvedLanguage ?? 'en') })}</Text>
      <Text size="xs" c="dimmed" mb="xs">{t('requests.tallies.hint')}</Text>
      <Table fz="xs" verticalSpacing={2}>
        <Table.Tbody>
          {tallies.slice(0, 8).map((r) => (
            <Table.Tr key={`${r.minute}-${r.client_token}-${r.status}-${r.error_class}`}>
              <Table.Td w={60}>{time.format(r.minute)}</Table.Td>
              <Table.Td w={120}><Text size="xs" truncate>{r.client_token}</Text></Table.Td>
              <Table.Td>{t(`requests.why.${r.error_class}`, { defaultValue: `${r.status} ${r.error_class}` })}</Table.Td>
              <Table.Td w={70} ta="right">+{formatNumber(r.count, i18n.resolvedLanguage ?? 'en')}</Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
    </Card>
  );
}

function ok(r: RequestRow) {
  return r.status >= 200 && r.status < 300 && !r.error_class;
}

export function Requests() {
  const { t, i18n } = useTranslation();
  const lang = i18n.resolvedLanguage ?? 'en';
  const [outcome, setOutcome] = useState<'' | 'ok' | 'error'>('');
  const [model, setModel] = useState<string | null>(null);
  const [token, setToken] = useState<string | null>(null);
  const [account, setAccount] = useState<string | null>(null);
  const [{ window, from }, setWindowState] = useState<{ window: Window; from?: number }>({ window: 'all' });
  const setWindow = (w: Window) => setWindowState({ window: w, from: WINDOWS[w] ? Date.now() - WINDOWS[w] : undefined });
  const [selected, setSelected] = useState<RequestRow | null>(null);
  const filters: RequestFilters = { outcome, model: model ?? undefined, token: token ?? undefined, account: account ?? undefined, from };
  const log = useRequestLog(filters);
  const tokens = useTokens();
  const accounts = useAccounts();
  const rows = useMemo(() => log.data?.pages.flatMap((p) => p.data) ?? [], [log.data]);
  const models = useMemo(() => [...new Set(rows.map((r) => r.model))].sort(), [rows]);

  const scroller = useRef<HTMLDivElement>(null);
  // eslint-disable-next-line react-hooks/incompatible-library
  const virtual = useVirtualizer({ count: rows.length, getScrollElement: () => scroller.current, estimateSize: () => ROW_HEIGHT, overscan: 12 });
  const items = virtual.getVirtualItems();
  const last = items[items.length - 1];
  useEffect(() => {
    if (last && last.index >= rows.length - 20 && log.hasNextPage && !log.isFetchingNextPage) void log.fetchNextPage();
  }, [last, rows.length, log]);

  return (
    <>
      <PageHeader title={t('requests.title')} description={t('requests.description')} />
      <RefusalTallies />
      <Group gap="xs" mb="sm" wrap="wrap">
        <SegmentedControl
          size="xs"
          value={outcome}
          onChange={(v) => setOutcome(v as typeof outcome)}
          data={[
            { value: '', label: t('requests.all') },
            { value: 'ok', label: t('requests.ok') },
            { value: 'error', label: t('requests.errors') },
          ]}
          aria-label={t('requests.outcome')}
          data-testid="filter-outcome"
        />
        <Select size="xs" w={150} placeholder={t('requests.model')} aria-label={t('requests.model')} data={models} value={model} onChange={setModel} clearable searchable />
        <Select size="xs" w={140} placeholder={t('requests.token')} aria-label={t('requests.token')} data={(tokens.data ?? []).map((x) => x.name)} value={token} onChange={setToken} clearable />
        <Select size="xs" w={150} placeholder={t('requests.account')} aria-label={t('requests.account')} data={(accounts.data ?? []).map((x) => x.name)} value={account} onChange={setAccount} clearable />
        <Select
          size="xs"
          w={130}
          aria-label={t('requests.window')}
          value={window}
          onChange={(v) => setWindow((v as Window) ?? 'all')}
          data={(Object.keys(WINDOWS) as Window[]).map((w) => ({ value: w, label: t(`requests.windows.${w}`) }))}
          allowDeselect={false}
        />
      </Group>
      <ErrorAlert error={log.error} />
      {log.isPending ? (
        <Loader />
      ) : rows.length === 0 ? (
        <Empty title={t('requests.empty')}>
          <Text size="sm" c="dimmed">
            {t('requests.emptyHint')}
          </Text>
        </Empty>
      ) : (
        <Card withBorder padding={0}>
          <div ref={scroller} style={{ height: 'calc(100vh - 240px)', minHeight: 260, overflow: 'auto' }} data-testid="request-log">
            <Group
              px="sm"
              py={6}
              gap={0}
              wrap="nowrap"
              miw={MIN_WIDTH}
              style={{ borderBottom: '1px solid var(--mantine-color-default-border)', position: 'sticky', top: 0, zIndex: 1, background: 'var(--mantine-color-body)' }}
            >
              <HeaderCell w={COLUMNS.time}>{t('requests.time')}</HeaderCell>
              <HeaderCell w={COLUMNS.status}>{t('requests.status')}</HeaderCell>
              <HeaderCell grow>{t('requests.model')}</HeaderCell>
              <HeaderCell w={COLUMNS.token}>{t('requests.token')}</HeaderCell>
              <HeaderCell w={COLUMNS.account}>{t('requests.account')}</HeaderCell>
              <HeaderCell w={COLUMNS.latency}>{t('requests.latency')}</HeaderCell>
              <HeaderCell w={COLUMNS.tokens}>{t('requests.tokens')}</HeaderCell>
            </Group>
            <div style={{ height: virtual.getTotalSize(), position: 'relative', minWidth: MIN_WIDTH }}>
              {items.map((item) => {
                const r = rows[item.index];
                return (
                  <Group
                    key={item.key}
                    px="sm"
                    gap={0}
                    wrap="nowrap"
                    role="button"
                    tabIndex={0}
                    onClick={() => setSelected(r)}
                    onKeyDown={(e) => (e.key === 'Enter' || e.key === ' ') && setSelected(r)}
                    data-testid="request-row"
                    style={{
                      position: 'absolute', top: 0, left: 0, right: 0, height: ROW_HEIGHT, transform: `translateY(${item.start}px)`,
                      cursor: 'pointer', borderBottom: '1px solid var(--mantine-color-default-border)', fontSize: 13,
                    }}
                  >
                    <Cell w={COLUMNS.time}>{formatShortDateTime(r.ts, lang)}</Cell>
                    <Cell w={COLUMNS.status}>
                      <Badge size="sm" variant="light" color={ok(r) ? 'teal' : 'red'}>
                        {r.status}
                      </Badge>
                    </Cell>
                    <Cell grow>
                      {r.model || '—'}
                      {r.stream && (
                        <Badge size="xs" variant="outline" ml={6}>
                          {t('requests.stream')}
                        </Badge>
                      )}
                      {r.images_described + r.images_cached > 0 && (
                        <Badge size="xs" variant="outline" color="grape" ml={6}>
                          {t('requests.imagesBadge', { count: r.images_described + r.images_cached })}
                        </Badge>
                      )}
                    </Cell>
                    <Cell w={COLUMNS.token}>{r.client_token}</Cell>
                    <Cell w={COLUMNS.account} title={r.account ?? undefined}>{r.account ?? '—'}</Cell>
                    <Cell w={COLUMNS.latency}>{formatDuration(r.latency_ms, lang)}</Cell>
                    <Cell w={COLUMNS.tokens}>
                      {formatNumber(r.input_tokens + r.output_tokens, lang)}
                      {r.tokens_estimated ? ' ~' : ''}
                    </Cell>
                  </Group>
                );
              })}
            </div>
          </div>
          {log.isFetchingNextPage && <Loader size="xs" m="xs" />}
        </Card>
      )}
      <Drawer opened={selected !== null} onClose={() => setSelected(null)} title={t('requests.detail')} position="right" size="md" closeButtonProps={{ 'aria-label': t('common.close') }}>
        {selected && <Detail r={selected} />}
      </Drawer>
    </>
  );
}

function HeaderCell({ children, w, grow }: { children: React.ReactNode; w?: number; grow?: boolean }) {
  return (
    <Text size="xs" fw={600} c="dimmed" w={w} style={grow ? { flex: 1, minWidth: 0 } : { flexShrink: 0 }}>
      {children}
    </Text>
  );
}

function Cell({ children, w, grow, title }: { children: React.ReactNode; w?: number; grow?: boolean; title?: string }) {
  return (
    <div title={title} style={grow ? { flex: 1, minWidth: 0, overflow: 'hidden', textOverflow: 'ellipsis', whiteSpace: 'nowrap' } : { width: w, flexShrink: 0, overflow: 'hidden', textOverflow: 'ellipsis', whiteSpace: 'nowrap' }}>
      {children}
    </div>
  );
}

function Detail({ r }: { r: RequestRow }) {
  const { t, i18n } = useTranslation();
  const lang = i18n.resolvedLanguage ?? 'en';
  // Refused before anything went upstream (a limit, a quota, a bad request): no tokens were
  // counted by anyone, and a known refusal says which limit and where it is set.
  const refused = r.attempts === 0 && r.status >= 400;
  const why = refused && r.error_class ? t(`requests.why.${r.error_class}`, { defaultValue: '' }) : '';
  const rows: [string, React.ReactNode][] = [
    [t('requests.time'), formatDateTime(r.ts, lang)],
    [t('requests.status'), `${r.status}${r.error_class ? ` · ${r.error_class}` : ''}`],
    ...(why ? [[t('requests.whyLabel'), why] as [string, React.ReactNode]] : []),
    [t('requests.model'), r.model || '—'],
    [t('requests.endpoint'), r.endpoint_id ?? '—'],
    [t('requests.token'), r.client_token],
    [t('requests.account'), r.account ?? '—'],
    [t('requests.kind'), r.stream ? t('requests.stream') : t('requests.sync')],
    [t('requests.dialect'), t(`dialects.${r.dialect}`, { defaultValue: r.dialect })],
    [t('requests.client'), t(`clients.${r.client}`, { defaultValue: r.client })],
    [t('requests.latency'), formatDuration(r.latency_ms, lang)],
    [t('requests.ttft'), formatDuration(r.ttft_ms, lang)],
    [t('requests.attempts'), formatNumber(r.attempts, lang)],
    [t('requests.inputTokens'), formatNumber(r.input_tokens, lang)],
    [t('requests.outputTokens'), formatNumber(r.output_tokens, lang)],
    [t('requests.counted'), refused ? t('requests.notUpstream') : r.tokens_estimated ? t('requests.estimated') : t('requests.exact')],
    [t('requests.session'), r.session_reused ? t('requests.reused') : t('requests.fresh')],
    ...(r.tools > 0
      ? [
          [t('requests.tools'), t('requests.toolsOffered', { count: r.tools })] as [string, React.ReactNode],
          [
            t('requests.toolCalls'),
            r.tool_calls.length === 0
              ? t('requests.noToolCalls')
              : r.tool_calls.map((c) => `${c.name} (${formatBytes(c.argument_bytes, lang)})`).join(', '),
          ] as [string, React.ReactNode],
        ]
      : []),
    ...(r.images_described + r.images_cached + r.images_uploaded > 0
      ? [
          [
            t('requests.images'),
            t('requests.imagesDetail', { described: r.images_described, cached: r.images_cached }) +
              (r.images_uploaded > r.images_described ? ` · ${t('requests.imagesUploaded', { n: r.images_uploaded })}` : ''),
          ] as [string, React.ReactNode],
        ]
      : []),
    ...(r.response_format ? [[t('requests.format'), r.response_format] as [string, React.ReactNode]] : []),
    ...(r.corrected ? [[t('requests.corrected'), t('requests.correctedYes')] as [string, React.ReactNode]] : []),
    ...(r.notes ? [[t('requests.notes'), r.notes] as [string, React.ReactNode]] : []),
  ];
  return (
    <Stack data-testid="request-detail">
      <Table fz="sm">
        <Table.Tbody>
          {rows.map(([k, v]) => (
            <Table.Tr key={k}>
              <Table.Th w={150}>{k}</Table.Th>
              <Table.Td>{v}</Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
      <Text fw={600} size="sm">
        {t('requests.failedAttempts')}
      </Text>
      {r.failed_attempts.length === 0 ? (
        <Text size="sm" c="dimmed">
          {t('requests.noFailedAttempts')}
        </Text>
      ) : (
        r.failed_attempts.map((a, i) => (
          <Card key={i} withBorder padding="xs">
            <Text size="sm" fw={600}>
              {i + 1}. {a.account} {a.status ? `· HTTP ${a.status}` : ''} {a.code ? `· ${a.code}` : ''}
            </Text>
            <Text size="xs" c="dimmed">
              {a.message}
            </Text>
          </Card>
        ))
      )}
    </Stack>
  );
}
