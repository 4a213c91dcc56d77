/** *Diagnose*: the doctor run from the dashboard (one account, or every enabled one): the
 * real on-demand.io checked against what the proxy expects, step by step, with what failed,
 * what merely differs, and a report to copy into a bug report. */
import { Alert, Badge, Button, CopyButton, Group, Loader, Modal, Stack, Table, Text } from '@mantine/core';
import { useEffect } from 'react';
import { useTranslation } from 'react-i18next';
import { useDoctorRun } from '../api/doctor';
import type { DoctorStep } from '../api/types';
import { ErrorAlert } from './common';

export function DoctorModal({ account, name, onClose }: { account: number | null; name: string; onClose: () => void }) {
  const { t } = useTranslation();
  const [state, start] = useDoctorRun();
  useEffect(() => void start({ account }), [start, account]);
  const { run } = state;
  return (
    <Modal opened onClose={onClose} title={t('doctor.title', { name })} size="xl" data-testid="doctor">
      <Stack gap="sm">
        <Text size="sm" c="dimmed">
          {t('doctor.description')}
        </Text>
        {state.steps.map(([hash, steps]) => {
          const report = run?.reports.find((r) => r.account === hash);
          return (
            <Stack key={hash} gap={4} data-testid="doctor-report">
              <Text size="sm" fw={600}>
                {t('doctor.account', { account: hash, kind: report?.kind ?? '…' })}
              </Text>
              <Table withRowBorders={false} verticalSpacing={4}>
                <Table.Tbody>
                  {steps.map((step) => (
                    <StepRow key={step.name} step={step} />
                  ))}
                </Table.Tbody>
              </Table>
            </Stack>
          );
        })}
        {state.running && !run && (
          <Group gap="xs" data-testid="doctor-running">
            <Loader size="sm" />
            <Text size="sm">{t('doctor.running')}</Text>
          </Group>
        )}
        <ErrorAlert error={state.error} />
        {run && (
          <>
            <Alert color={run.exit_code === 0 ? 'teal' : run.exit_code === 1 ? 'yellow' : 'red'} data-testid="doctor-verdict">
              {t(`doctor.verdict.${run.exit_code}`)}
            </Alert>
            <Group justify="space-between">
              <Text size="xs" c="dimmed">
                {run.file ? t('doctor.kept', { file: run.file }) : ''}
              </Text>
              <CopyButton value={run.text}>
                {({ copied, copy }) => (
                  <Button variant="light" onClick={copy} data-testid="doctor-copy">
                    {copied ? t('common.copied') : t('doctor.copy')}
                  </Button>
                )}
              </CopyButton>
            </Group>
          </>
        )}
      </Stack>
    </Modal>
  );
}

function StepRow({ step }: { step: DoctorStep }) {
  const { t } = useTranslation();
  const [color, label] = step.skipped
    ? ['gray', t('doctor.skipped')]
    : !step.ok
      ? ['red', t('doctor.failed')]
      : step.deviations.length
        ? ['yellow', t('doctor.deviates')]
        : ['teal', t('doctor.ok')];
  const figures = Object.entries(step.figures as Record<string, unknown>)
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' · ');
  return (
    <Table.Tr data-testid={`doctor-step-${step.name}`}>
      <Table.Td w={110} valign="top">
        <Text size="sm" fw={600}>
          {step.name}
        </Text>
      </Table.Td>
      <Table.Td w={110} valign="top">
        <Badge color={color} variant="light">
          {label}
        </Badge>
      </Table.Td>
      <Table.Td style={{ overflowWrap: 'anywhere' }}>
        <Text size="xs" c="dimmed">
          {figures}
        </Text>
        {step.error && <Text size="sm">{step.error}</Text>}
        {step.deviations.map((d) => (
          <Text key={d} size="sm" c="yellow.9">
            {d}
          </Text>
        ))}
      </Table.Td>
    </Table.Tr>
  );
}
