/** Settings → Network: a connection test of the way to on-demand.io, for the settings' own
 * proxy or one account's, with what it found (address, TLS, protocol, issuer, proxy, time,
 * the catalogue's answer) and, when it failed, whose fault it was in plain words. */
import { useState } from 'react';
import { Alert, Button, Card, Group, Select, Stack, Table, Text, Title } from '@mantine/core';
import { useTranslation } from 'react-i18next';
import { useAccounts, useTestConnection } from '../api/hooks';
import type { Probe } from '../api/types';
import { ErrorAlert } from './common';
import { DoctorModal } from './Doctor';

export function NetworkTest() {
  const { t } = useTranslation();
  const accounts = useAccounts();
  const test = useTestConnection();
  const [account, setAccount] = useState<string | null>(null);
  const [diagnosing, setDiagnosing] = useState(false);
  const options = [
    { value: '', label: t('network.settingsWay') },
    ...(accounts.data ?? []).filter((a) => a.enabled).map((a) => ({ value: String(a.id), label: a.name })),
  ];
  const run = () => test.mutate(account ? { account: Number(account) } : {});

  return (
    <Card withBorder padding="md" id="network" data-testid="network-test">
      <Title order={3} size="h5" mb="xs">
        {t('network.title')}
      </Title>
      <Text size="sm" c="dimmed" mb="sm">
        {t('network.description')}
      </Text>
      <Group align="end" mb="sm">
        <Select label={t('network.way')} data={options} value={account ?? ''} onChange={setAccount} allowDeselect={false} w={280} data-testid="network-account" />
        <Button onClick={run} loading={test.isPending} data-testid="network-run">
          {t('network.run')}
        </Button>
        <Button variant="light" onClick={() => setDiagnosing(true)} data-testid="network-diagnose">
          {t('doctor.action')}
        </Button>
      </Group>
      <Text size="xs" c="dimmed" mb="sm">
        {t('doctor.hint')}
      </Text>
      {diagnosing && (
        <DoctorModal
          account={account ? Number(account) : null}
          name={options.find((o) => o.value === (account ?? ''))?.label ?? ''}
          onClose={() => setDiagnosing(false)}
        />
      )}
      <ErrorAlert error={test.error} />
      {test.data && <Result probe={test.data} />}
    </Card>
  );
}

function Result({ probe }: { probe: Probe }) {
  const { t } = useTranslation();
  const dash = '—';
  const answer = probe.endpoints != null ? t('network.endpoints', { status: probe.status, n: probe.endpoints }) : probe.status ? `HTTP ${probe.status}` : dash;
  const rows: [string, string][] = [
    [t('network.url'), probe.url],
    [t('network.address'), probe.address ?? dash],
    [t('network.tls'), probe.tls_version ?? dash],
    [t('network.protocol'), probe.protocol ?? dash],
    [t('network.issuer'), probe.issuer ?? dash],
    [t('network.proxy'), probe.proxy ? `${probe.proxy}${probe.proxy_from_env ? ` (${t('network.fromEnv')})` : ''}` : t('network.noProxy')],
    [t('network.trust'), probe.trust ? t(`network.trusts.${probe.trust}`, { n: probe.extra_roots }) : t('network.plainHttp')],
    [t('network.latency'), probe.latency_ms ? `${probe.latency_ms.toFixed(0)} ms` : dash],
    [t('network.answer'), answer],
  ];
  return (
    <Stack gap="xs" data-testid="network-result">
      {probe.fault ? (
        <Alert color="red" title={t(`network.faults.${probe.fault}`)} data-testid="network-fault">
          <Text size="sm" style={{ overflowWrap: 'anywhere' }}>
            {probe.error}
          </Text>
        </Alert>
      ) : (
        <Alert color="teal" title={t('network.ok')} />
      )}
      <Table withRowBorders={false} verticalSpacing={4}>
        <Table.Tbody>
          {rows.map(([label, value]) => (
            <Table.Tr key={label}>
              <Table.Td w={200}>
                <Text size="sm" c="dimmed">
                  {label}
                </Text>
              </Table.Td>
              <Table.Td style={{ overflowWrap: 'anywhere' }}>
                <Text size="sm">{value}</Text>
              </Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
    </Stack>
  );
}
