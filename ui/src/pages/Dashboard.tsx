import { useState } from 'react';
import { Alert, Badge, Card, Group, SegmentedControl, SimpleGrid, Table, Text, Title, VisuallyHidden } from '@mantine/core';
import { useTranslation } from 'react-i18next';
import type { EChartsCoreOption } from 'echarts/core';
import { useAccounts, useBreakdown, useOverview, useSeries } from '../api/hooks';
import type { Bucket, Share, UpstreamProblem } from '../api/types';
import { Chart } from '../components/Chart';
import { Empty, ErrorAlert, PageHeader } from '../components/common';
import { useLiveState } from '../components/LiveContext';
import { formatBucket, formatCompact, formatDuration, formatNumber, formatPercent, formatTime } from '../lib/format';
import { type RangeKey, rangeBounds, tzOffsetMinutes } from '../lib/range';
import { toSeries, topShares } from '../lib/series';
import { DemoNotice, TryDemoButton } from '../components/Demo';
import { Link } from 'react-router';

function Kpi({ label, value, detail, testId }: { label: string; value: string; detail?: string; testId?: string }) {
  return (
    <Card withBorder padding="sm" data-testid={testId}>
      <Text size="xs" c="dimmed" tt="uppercase" fw={600}>
        {label}
      </Text>
      <Text size="xl" fw={700} data-testid={testId ? `${testId}-value` : undefined}>
        {value}
      </Text>
      {detail && (
        <Text size="xs" c="dimmed">
          {detail}
        </Text>
      )}
    </Card>
  );
}

export function Dashboard() {
  const { t, i18n } = useTranslation();
  const lang = i18n.resolvedLanguage ?? 'en';
  // `from` is fixed when the range is chosen, so the queries keep their keys; `to` is
  // always "now" (left to the server).
  const [{ range, from }, setRangeState] = useState(() => ({ range: 'today' as RangeKey, from: rangeBounds('today', Date.now()).from }));
  const setRange = (key: RangeKey) => setRangeState({ range: key, from: rangeBounds(key, Date.now()).from });
  const [{ tz, monthStart }] = useState(() => ({ tz: tzOffsetMinutes(Date.now()), monthStart: rangeBounds('30d', Date.now()).from }));
  const overview = useOverview(from);
  const hourly = useSeries('hour', undefined, tz);
  const daily = useSeries('day', monthStart, tz);
  const byModel = useBreakdown('model', from);
  const byAccount = useBreakdown('account', from);
  const byToken = useBreakdown('token', from);
  const byDialect = useBreakdown('dialect', from);
  const byClient = useBreakdown('client', from);
  const named = (shares: Share[] | undefined, prefix: 'dialects' | 'clients') =>
    shares?.map((s) => ({ ...s, key: t(`${prefix}.${s.key}`, { defaultValue: s.key }) }));
  const accounts = useAccounts();
  const o = overview.data;

  return (
    <>
      <PageHeader
        title={t('dashboard.title')}
        actions={
          <SegmentedControl
            value={range}
            onChange={(v) => setRange(v as RangeKey)}
            data={[
              { value: 'today', label: t('dashboard.range.today') },
              { value: '7d', label: t('dashboard.range.7d') },
              { value: '30d', label: t('dashboard.range.30d') },
            ]}
            aria-label={t('dashboard.range.label')}
            data-testid="range"
          />
        }
      />
      <ErrorAlert error={overview.error} />
      <UpstreamProblemAlert fallback={o?.upstream_problem ?? null} />
      <DemoNotice />
      {accounts.data?.length === 0 && (
        <Empty title={t('dashboard.noAccounts')}>
          <Text size="sm" c="dimmed" ta="center" maw={520}>
            {t('dashboard.noAccountsHint')}
          </Text>
          <TryDemoButton />
        </Empty>
      )}
      <SimpleGrid cols={{ base: 2, md: 4 }} spacing="sm" mb="md" mt="sm">
        <Kpi
          testId="kpi-requests"
          label={t('dashboard.kpi.requests')}
          value={formatNumber(o?.requests, lang)}
          detail={t('dashboard.kpi.successRate', { rate: formatPercent(o?.success_rate, lang) })}
        />
        <Kpi
          testId="kpi-tokens"
          label={t('dashboard.kpi.tokens')}
          value={`${formatCompact(o?.input_tokens, lang)} / ${formatCompact(o?.output_tokens, lang)}`}
          detail={t('dashboard.kpi.tokensDetail', { estimated: formatCompact(o?.estimated_tokens, lang) })}
        />
        <Kpi
          testId="kpi-accounts"
          label={t('dashboard.kpi.accounts')}
          value={o ? `${o.accounts.healthy} / ${o.accounts.total}` : '—'}
          detail={t('dashboard.kpi.accountsDetail')}
        />
        <Kpi
          testId="kpi-latency"
          label={t('dashboard.kpi.latency')}
          value={`${formatDuration(o?.requests ? o.latency_ms_avg : null, lang)} · ${formatDuration(o?.latency_ms_p95, lang)}`}
          detail={t('dashboard.kpi.latencyDetail', {
            p50: formatDuration(o?.ttft_ms_p50, lang),
            p95: formatDuration(o?.ttft_ms_p95, lang),
          })}
        />
      </SimpleGrid>
      <LiveStrip />
      <SimpleGrid cols={{ base: 1, lg: 2 }} spacing="sm" mb="sm">
        <Card withBorder padding="sm">
          <Title order={3} size="h5" mb={4}>
            {t('dashboard.hourly')}
          </Title>
          <Chart testId="chart-hourly" option={seriesOption(hourly.data, 'hour', lang, t)} label={seriesLabel(t('dashboard.hourly'), hourly.data, lang, t)} />
          <SeriesTable buckets={hourly.data} bucket="hour" caption={t('dashboard.hourly')} testId="table-hourly" />
        </Card>
        <Card withBorder padding="sm">
          <Title order={3} size="h5" mb={4}>
            {t('dashboard.daily')}
          </Title>
          <Chart testId="chart-daily" option={seriesOption(daily.data, 'day', lang, t)} label={seriesLabel(t('dashboard.daily'), daily.data, lang, t)} />
          <SeriesTable buckets={daily.data} bucket="day" caption={t('dashboard.daily')} testId="table-daily" />
        </Card>
      </SimpleGrid>
      <SimpleGrid cols={{ base: 1, sm: 3 }} spacing="sm" mb="sm">
        <ShareCard title={t('dashboard.byModel')} shares={byModel.data} other={t('dashboard.other')} testId="chart-models" />
        <ShareCard title={t('dashboard.byAccount')} shares={byAccount.data} other={t('dashboard.other')} testId="chart-accounts" />
        <ShareCard title={t('dashboard.byToken')} shares={byToken.data} other={t('dashboard.other')} testId="chart-tokens" />
      </SimpleGrid>
      <SimpleGrid cols={{ base: 1, sm: 2 }} spacing="sm" mb="sm">
        <ShareCard title={t('dashboard.byDialect')} shares={named(byDialect.data, 'dialects')} other={t('dashboard.other')} testId="chart-dialects" />
        <ShareCard title={t('dashboard.byClient')} shares={named(byClient.data, 'clients')} other={t('dashboard.other')} testId="chart-clients" />
      </SimpleGrid>
      <ToolsCard shares={byModel.data} />
      <RecentLive />
    </>
  );
}

type Translate = (key: string) => string;

function seriesOption(buckets: Bucket[] | undefined, bucket: 'hour' | 'day', lang: string, t: Translate): EChartsCoreOption {
  const s = toSeries(buckets ?? []);
  return {
    tooltip: { trigger: 'axis' },
    legend: { top: 0, textStyle: { fontSize: 11 } },
    grid: { left: 8, right: 8, top: 30, bottom: 4, containLabel: true },
    xAxis: { type: 'category', data: s.starts.map((ms) => formatBucket(ms, bucket, lang)) },
    yAxis: [
      { type: 'value', name: '', minInterval: 1 },
      { type: 'value', name: '', splitLine: { show: false }, axisLabel: { formatter: (v: number) => formatCompact(v, lang) } },
    ],
    series: [
      { name: t('dashboard.series.requests'), type: 'bar', data: s.requests, stack: 'r' },
      { name: t('dashboard.series.errors'), type: 'bar', data: s.errors, itemStyle: { color: '#fa5252' } },
      {
        name: t('dashboard.series.tokens'),
        type: 'line',
        yAxisIndex: 1,
        showSymbol: false,
        data: s.inputTokens.map((v, i) => v + s.outputTokens[i]),
      },
    ],
  };
}

/** The figures behind a series chart, for screen readers (the canvas has none): one row per
 * bucket that saw requests. */
function SeriesTable({ buckets, bucket, caption, testId }: { buckets: Bucket[] | undefined; bucket: 'hour' | 'day'; caption: string; testId: string }) {
  const { t, i18n } = useTranslation();
  const lang = i18n.resolvedLanguage ?? 'en';
  const rows = (buckets ?? []).filter((b) => b.requests > 0);
  return (
    <VisuallyHidden>
      <table data-testid={testId}>
        <caption>{caption}</caption>
        <thead>
          <tr>
            <th scope="col">{t('dashboard.series.time')}</th>
            <th scope="col">{t('dashboard.series.requests')}</th>
            <th scope="col">{t('dashboard.series.errors')}</th>
            <th scope="col">{t('dashboard.series.tokens')}</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((b) => (
            <tr key={b.start}>
              <th scope="row">{formatBucket(b.start, bucket, lang)}</th>
              <td>{formatNumber(b.requests, lang)}</td>
              <td>{formatNumber(b.requests - b.successes, lang)}</td>
              <td>{formatNumber(b.input_tokens + b.output_tokens, lang)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </VisuallyHidden>
  );
}

/** What a series chart shows, in words: its title and the totals over its range. */
function seriesLabel(title: string, buckets: Bucket[] | undefined, lang: string, t: (key: string, options: Record<string, string>) => string): string {
  const s = toSeries(buckets ?? []);
  const sum = (values: number[]) => values.reduce((n, v) => n + v, 0);
  return `${title}: ${t('dashboard.chartSummary', {
    requests: formatNumber(sum(s.requests), lang),
    errors: formatNumber(sum(s.errors), lang),
  })}`;
}

function ShareCard({ title, shares, other, testId }: { title: string; shares: Share[] | undefined; other: string; testId: string }) {
  const { t } = useTranslation();
  const data = topShares(shares ?? [], 6, other);
  return (
    <Card withBorder padding="sm">
      <Title order={3} size="h5" mb={4}>
        {title}
      </Title>
      {data.length === 0 ? (
        <Text size="sm" c="dimmed" py="xl" ta="center">
          {t('dashboard.noData')}
        </Text>
      ) : (
        <Chart
          testId={testId}
          label={`${title}: ${data.map((d) => `${d.name} ${d.value}`).join(', ')}`}
          height={200}
          option={{
            tooltip: { trigger: 'item' },
            // Room for the labels beside a narrow ring; a long name wraps rather than being cut.
            series: [{
              type: 'pie', radius: ['38%', '62%'], data, avoidLabelOverlap: true,
              label: { fontSize: 11, overflow: 'break', width: 110, lineHeight: 13 },
              labelLayout: { hideOverlap: true },
            }],
          }}
        />
      )}
    </Card>
  );
}

/** Per model: how many requests offered tools, and how often the answer needed the corrective
 * follow-up; shown once any request offered tools. This is how a user sees which models follow
 * the tool protocol. */
function ToolsCard({ shares }: { shares: Share[] | undefined }) {
  const { t, i18n } = useTranslation();
  const lang = i18n.resolvedLanguage ?? 'en';
  const rows = (shares ?? []).filter((s) => s.tool_requests > 0);
  if (rows.length === 0) return null;
  return (
    <Card withBorder padding="sm" mb="sm" data-testid="tools-by-model">
      <Title order={3} size="h5" mb={4}>
        {t('dashboard.tools.title')}
      </Title>
      <Table fz="sm" striped>
        <Table.Thead>
          <Table.Tr>
            <Table.Th>{t('dashboard.tools.model')}</Table.Th>
            <Table.Th ta="right">{t('dashboard.tools.share')}</Table.Th>
            <Table.Th ta="right">{t('dashboard.tools.corrected')}</Table.Th>
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {rows.map((s) => (
            <Table.Tr key={s.key}>
              <Table.Td>{s.key}</Table.Td>
              <Table.Td ta="right">
                {formatPercent(s.tool_requests / s.requests, lang)} ({formatNumber(s.tool_requests, lang)})
              </Table.Td>
              <Table.Td ta="right">{formatPercent(s.corrected / s.tool_requests, lang)}</Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
      <Text size="xs" c="dimmed" mt={4}>
        {t('dashboard.tools.help')}
      </Text>
    </Card>
  );
}

/** A problem every account meets alike (the upstream's firewall, a wrong base URL): from the
 * live tick while it runs, else from the overview. */
function UpstreamProblemAlert({ fallback }: { fallback: UpstreamProblem | null }) {
  const { t, i18n } = useTranslation();
  const { tick } = useLiveState();
  const problem = tick ? (tick.upstream_problem ?? null) : fallback;
  if (!problem) return null;
  return (
    <Alert color="red" mb="md" title={t(`dashboard.problem.${problem.kind}.title`)} data-testid="upstream-problem">
      <Text size="sm">{t(`dashboard.problem.${problem.kind}.hint`)}</Text>
      <Text size="xs" c="dimmed" mt={4}>
        {t('dashboard.problem.since', { time: formatTime(problem.since_ms, i18n.resolvedLanguage ?? 'en') })} · {problem.message}
      </Text>
      <Text size="sm" mt={4}>
        <Link to="/settings#network" data-testid="upstream-problem-diagnose">
          {t('doctor.fromBanner')}
        </Link>
      </Text>
    </Alert>
  );
}

function LiveStrip() {
  const { t, i18n } = useTranslation();
  const lang = i18n.resolvedLanguage ?? 'en';
  const { tick } = useLiveState();
  const p = tick?.per_second;
  return (
    <Group gap="lg" mb="sm" data-testid="live-strip">
      <Badge variant="dot" color={tick ? 'teal' : 'gray'}>
        {t('dashboard.live')}
      </Badge>
      <Text size="sm">{t('dashboard.liveRate', { rate: formatNumber(p ? Math.round(p.requests * 10) / 10 : null, lang) })}</Text>
      <Text size="sm">{t('dashboard.liveTokens', { rate: formatCompact(p ? p.input_tokens + p.output_tokens : null, lang) })}</Text>
      <Text size="sm">{t('dashboard.inFlight', { n: tick?.in_flight ?? 0 })}</Text>
      <Text size="sm" c="dimmed" data-testid="live-total">
        {t('dashboard.sinceStart', { n: formatNumber(tick?.totals.requests ?? null, lang) })}
      </Text>
    </Group>
  );
}

function RecentLive() {
  const { t, i18n } = useTranslation();
  const lang = i18n.resolvedLanguage ?? 'en';
  const { recent } = useLiveState();
  return (
    <Card withBorder padding="sm">
      <Title order={3} size="h5" mb={4}>
        {t('dashboard.recent')}
      </Title>
      {recent.length === 0 ? (
        <Text size="sm" c="dimmed">
          {t('dashboard.recentEmpty')}
        </Text>
      ) : (
        <Table.ScrollContainer minWidth={500}>
          <Table striped highlightOnHover fz="sm" data-testid="recent-table">
            <Table.Tbody>
              {recent.slice(0, 8).map((r, i) => (
                <Table.Tr key={`${r.ts}-${i}`}>
                  <Table.Td>{formatTime(r.ts, lang)}</Table.Td>
                  <Table.Td>{r.model}</Table.Td>
                  <Table.Td>{r.client_token}</Table.Td>
                  <Table.Td>
                    <Badge color={r.status < 400 && !r.error_class ? 'teal' : 'red'} variant="light">
                      {r.status}
                    </Badge>
                  </Table.Td>
                  <Table.Td>{formatDuration(r.latency_ms, lang)}</Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        </Table.ScrollContainer>
      )}
    </Card>
  );
}

