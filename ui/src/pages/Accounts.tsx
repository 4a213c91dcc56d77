import { useRef, useState } from 'react';
import {
  ActionIcon, Alert, Anchor, Badge, Button, Card, Checkbox, FileButton, Group, Menu, Modal, NumberInput, PasswordInput,
  SegmentedControl, Stack, Switch, Table, Text, TextInput, Tooltip,
} from '@mantine/core';
import { notifications } from '@mantine/notifications';
import { IconDots, IconDownload, IconPlus, IconUpload } from '@tabler/icons-react';
import { useTranslation } from 'react-i18next';
import { url, headers } from '../api/client';
import {
  type AccountInput, useAccounts, useCreateAccount, useDeleteAccount, useImport, useResetAccount, useSession,
  useTestAccount, useUpdateAccount, useUsageToday,
} from '../api/hooks';
import type { Account, ImportReport } from '../api/types';
import { Confirm, Empty, ErrorAlert, FormModal, ListTable, PageHeader, SourceBadge } from '../components/common';
import { StateBadge } from '../components/StateBadge';
import { fieldError, formLevelError } from '../lib/errors';
import { notifyError, settle } from '../lib/notify';
import { formatCompact, formatDuration, formatNumber } from '../lib/format';
import { inShell } from '../api/shell';
import { TryDemoButton } from '../components/Demo';
import { DoctorModal } from '../components/Doctor';

export function Accounts() {
  const { t, i18n } = useTranslation();
  const lang = i18n.resolvedLanguage ?? 'en';
  const accounts = useAccounts();
  const demo = useSession().data?.demo ?? false;
  const usage = useUsageToday('account');
  const [editing, setEditing] = useState<Account | 'new' | null>(null);
  const [deleting, setDeleting] = useState<Account | null>(null);
  const [diagnosing, setDiagnosing] = useState<Account | null>(null);
  const [transfer, setTransfer] = useState(false);
  const update = useUpdateAccount();
  const remove = useDeleteAccount();
  const reset = useResetAccount();
  const test = useTestAccount();

  const runTest = async (a: Account) => {
    try {
      const r = await test.mutateAsync(a.id);
      notifications.show(
        r.ok
          ? { color: 'teal', title: t('accounts.testOk', { name: a.name }), message: t('accounts.testLatency', { latency: formatDuration(r.latency_ms, lang), answer: r.answer ?? '' }) }
          : { color: 'red', title: t('accounts.testFailed', { name: a.name }), message: r.error?.message ?? '', autoClose: false },
      );
    } catch (e) {
      notifyError(e, t);
    }
  };
  const act = (p: Promise<unknown>) => settle(p, t);

  return (
    <>
      <PageHeader
        title={t('accounts.title')}
        description={t('accounts.description')}
        actions={
          <>
            <Button variant="default" leftSection={<IconDownload size={16} />} onClick={() => setTransfer(true)} data-testid="transfer">
              {t('accounts.importExport')}
            </Button>
            <Button leftSection={<IconPlus size={16} />} onClick={() => setEditing('new')} data-testid="add-account">
              {t('accounts.add')}
            </Button>
          </>
        }
      />
      <ErrorAlert error={accounts.error} />
      {accounts.data?.length === 0 && (
        <Empty title={t('accounts.empty')}>
          <Text size="sm" c="dimmed" ta="center" maw={420}>
            {t('accounts.emptyHint')}
          </Text>
          <Group gap="xs">
            <Button onClick={() => setEditing('new')}>{t('accounts.add')}</Button>
            <TryDemoButton />
          </Group>
        </Empty>
      )}
      {accounts.data && accounts.data.length > 0 && (
        <Card withBorder padding={0}>
          <ListTable headers={[t('accounts.name'), t('accounts.kind'), t('accounts.stateLabel'), t('accounts.weight'), t('accounts.inFlight'), t('accounts.today'), t('accounts.enabled'), '']} minWidth={760} testId="accounts-table" compact={{ hide: [1, 3, 4], minWidth: 520 }}>
                {accounts.data.map((a) => {
                  const used = usage.get(a.name);
                  const readOnly = a.source === 'config';
                  return (
                    <Table.Tr key={a.id} data-testid={`account-${a.name}`}>
                      <Table.Td>
                        <Group gap={6} wrap="nowrap">
                          <Text size="sm" fw={600}>
                            {a.name}
                          </Text>
                          <SourceBadge source={a.source} />
                        </Group>
                        <Text size="xs" c="dimmed">
                          {a.email ?? a.secret_hint}
                        </Text>
                      </Table.Td>
                      <Table.Td style={{ whiteSpace: 'nowrap' }}>{t(`accounts.kinds.${a.kind}`)}</Table.Td>
                      <Table.Td style={{ minWidth: 140 }}>
                        <StateBadge account={a} simulated={demo || a.simulated} />
                        {a.reason && a.state !== 'healthy' && (
                          <Text size="xs" c="dimmed" maw={220} lineClamp={2} title={a.reason} data-testid="account-reason">
                            {a.reason}
                          </Text>
                        )}
                        {(a.model_blocks ?? []).length > 0 && (
                          <Text
                            size="xs"
                            c="orange.8"
                            maw={220}
                            lineClamp={2}
                            title={a.model_blocks.map((b) => `${b.endpoint_id}: ${b.reason}`).join('\n')}
                            data-testid="account-model-blocks"
                          >
                            {t('accounts.modelBlocks', { models: a.model_blocks.map((b) => b.endpoint_id).join(', ') })}
                          </Text>
                        )}
                      </Table.Td>
                      <Table.Td>{a.weight}</Table.Td>
                      <Table.Td>{a.in_flight}</Table.Td>
                      <Table.Td>
                        {t('accounts.todayValue', { requests: formatNumber(used?.requests ?? 0, lang), tokens: formatCompact((used?.input_tokens ?? 0) + (used?.output_tokens ?? 0), lang) })}
                      </Table.Td>
                      <Table.Td>
                        <Tooltip label={t('common.configManagedHint')} disabled={!readOnly}>
                          <Switch
                            checked={a.enabled}
                            disabled={readOnly}
                            aria-label={t('accounts.enabled')}
                            onChange={(e) => act(update.mutateAsync({ id: a.id, enabled: e.currentTarget.checked }))}
                          />
                        </Tooltip>
                      </Table.Td>
                      <Table.Td>
                        <Menu position="bottom-end">
                          <Menu.Target>
                            <ActionIcon variant="subtle" aria-label={t('common.actions')} data-testid="account-actions">
                              <IconDots size={16} />
                            </ActionIcon>
                          </Menu.Target>
                          <Menu.Dropdown>
                            <Menu.Item onClick={() => runTest(a)} data-testid="account-test">{t('accounts.test')}</Menu.Item>
                            <Menu.Item onClick={() => setDiagnosing(a)} data-testid="account-diagnose">{t('doctor.action')}</Menu.Item>
                            <Menu.Item onClick={() => act(reset.mutateAsync(a.id))}>{t('accounts.reset')}</Menu.Item>
                            <Menu.Item disabled={readOnly} onClick={() => setEditing(a)}>{t('common.edit')}</Menu.Item>
                            <Menu.Item disabled={readOnly} color="red" onClick={() => setDeleting(a)}>{t('common.delete')}</Menu.Item>
                          </Menu.Dropdown>
                        </Menu>
                      </Table.Td>
                    </Table.Tr>
                  );
                })}
          </ListTable>
        </Card>
      )}
      {accounts.data?.some((a) => a.source === 'config') && (
        <Text size="xs" c="dimmed" mt="xs">
          {t('common.configManagedHint')}
        </Text>
      )}
      {editing && <AccountForm account={editing === 'new' ? null : editing} onClose={() => setEditing(null)} />}
      <Confirm
        opened={deleting !== null}
        title={t('accounts.deleteTitle')}
        message={t('accounts.deleteMessage', { name: deleting?.name })}
        confirmLabel={t('common.delete')}
        loading={remove.isPending}
        onCancel={() => setDeleting(null)}
        onConfirm={() =>
          deleting &&
          settle(remove.mutateAsync(deleting.id), t, t('accounts.deleted', { name: deleting.name })).then(() => setDeleting(null))
        }
      />
      <Transfer opened={transfer} onClose={() => setTransfer(false)} />
      {diagnosing && <DoctorModal account={diagnosing.id} name={diagnosing.name} onClose={() => setDiagnosing(null)} />}
    </>
  );
}

/** Where on-demand.io's dashboard makes API keys (upstream contract, the key section). */
const KEYS_PAGE = 'https://app.on-demand.io/api-keys-management';

const FIELDS = ['name', 'kind', 'api_key', 'email', 'password', 'weight', 'max_concurrent', 'proxy'];

function AccountForm({ account, onClose }: { account: Account | null; onClose: () => void }) {
  const { t } = useTranslation();
  const create = useCreateAccount();
  const update = useUpdateAccount();
  // A real account ends the demo (the server removes the simulated one): say so.
  const demoRunning = useAccounts().data?.some((a) => a.simulated && a.source === 'api') ?? false;
  const [kind, setKind] = useState<'api_key' | 'email_password'>(account?.kind ?? 'api_key');
  const [name, setName] = useState(account?.name ?? '');
  const [apiKey, setApiKey] = useState('');
  const [email, setEmail] = useState(account?.email ?? '');
  const [password, setPassword] = useState('');
  const [weight, setWeight] = useState<number | string>(account?.weight ?? 1);
  const [maxConcurrent, setMaxConcurrent] = useState<number | string>(account?.max_concurrent ?? 0);
  // Shown masked; sent back unchanged, the server keeps the password.
  const [proxy, setProxy] = useState(account?.proxy ?? '');
  const mutation = account ? update : create;
  const error = mutation.error;

  const submit = async () => {
    const input: AccountInput = {
      weight: typeof weight === 'number' ? weight : Number(weight),
      max_concurrent: typeof maxConcurrent === 'number' ? maxConcurrent : Number(maxConcurrent || 0),
    };
    if (proxy.trim() !== (account?.proxy ?? '')) input.proxy = proxy.trim();
    if (!account) {
      input.kind = kind;
      if (name.trim()) input.name = name.trim();
    }
    if (kind === 'api_key') {
      if (apiKey || !account) input.api_key = apiKey;
    } else {
      if (email !== (account?.email ?? '') || !account) input.email = email;
      if (password || !account) input.password = password;
    }
    try {
      if (account) await update.mutateAsync({ id: account.id, ...input });
      else await create.mutateAsync(input);
      const created = demoRunning ? t('accounts.createdDemoEnded') : t('accounts.created');
      notifications.show({ color: 'teal', message: account ? t('accounts.saved') : created });
      onClose();
    } catch {
      // Shown inline below.
    }
  };

  return (
    <FormModal
      title={account ? t('accounts.editTitle', { name: account.name }) : t('accounts.addTitle')}
      onClose={onClose}
      onSubmit={() => void submit()}
      formError={formLevelError(error, FIELDS, t)}
      submitLabel={account ? t('common.save') : t('accounts.add')}
      loading={mutation.isPending}
      testId="account-form"
    >
      {!account && (
        <SegmentedControl
          value={kind}
          onChange={(v) => setKind(v as typeof kind)}
          data={[
            { value: 'api_key', label: t('accounts.kinds.api_key') },
            { value: 'email_password', label: t('accounts.kinds.email_password') },
          ]}
        />
      )}
      {kind === 'email_password' && (
        <Alert color="yellow" p="xs">
          {t('accounts.experimental')}
        </Alert>
      )}
      <TextInput
        label={t('accounts.name')}
        description={account ? t('accounts.nameFixed') : t('accounts.nameHint')}
        value={name}
        disabled={Boolean(account)}
        onChange={(e) => setName(e.currentTarget.value)}
        error={fieldError(error, 'name', t)}
        data-testid="account-name"
      />
      {kind === 'api_key' ? (
        <PasswordInput
          label={t('accounts.apiKey')}
          description={
            account ? (
              t('accounts.keepSecret')
            ) : (
              <>
                {t('accounts.keyWhere')}{' '}
                <Anchor href={KEYS_PAGE} underline="always" target={inShell() ? undefined : '_blank'} rel="noreferrer" size="xs" data-testid="account-key-link">
                  {t('accounts.keyLink')}
                </Anchor>
              </>
            )
          }
          value={apiKey}
          onChange={(e) => setApiKey(e.currentTarget.value)}
          error={fieldError(error, 'api_key', t)}
          required={!account}
          data-testid="account-key"
        />
      ) : (
        <>
          <TextInput label={t('accounts.email')} value={email} onChange={(e) => setEmail(e.currentTarget.value)} error={fieldError(error, 'email', t)} required={!account} />
          <PasswordInput
            label={t('accounts.password')}
            description={account ? t('accounts.keepSecret') : undefined}
            value={password}
            onChange={(e) => setPassword(e.currentTarget.value)}
            error={fieldError(error, 'password', t)}
            required={!account}
          />
        </>
      )}
      <Group grow>
        <NumberInput label={t('accounts.weight')} description={t('accounts.weightHint')} value={weight} onChange={setWeight} error={fieldError(error, 'weight', t)} data-testid="account-weight" />
        <NumberInput label={t('accounts.maxConcurrent')} description={t('accounts.maxConcurrentHint')} value={maxConcurrent} onChange={setMaxConcurrent} min={0} error={fieldError(error, 'max_concurrent', t)} />
      </Group>
      <TextInput
        label={t('accounts.proxy')}
        description={t('accounts.proxyHint')}
        placeholder="socks5h://127.0.0.1:7890"
        value={proxy}
        onChange={(e) => setProxy(e.currentTarget.value)}
        error={fieldError(error, 'proxy', t)}
        data-testid="account-proxy"
      />
    </FormModal>
  );
}

function Transfer({ opened, onClose }: { opened: boolean; onClose: () => void }) {
  const { t } = useTranslation();
  const [secrets, setSecrets] = useState(false);
  const [mode, setMode] = useState<'skip' | 'replace'>('skip');
  const [report, setReport] = useState<ImportReport | null>(null);
  const [error, setError] = useState<unknown>(null);
  const importer = useImport();
  const reset = useRef<() => void>(null);

  const download = async () => {
    setError(null);
    try {
      const response = await fetch(url('/api/export', { secrets }), { headers: headers(false), credentials: 'same-origin' });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      const blob = await response.blob();
      const link = document.createElement('a');
      link.href = URL.createObjectURL(blob);
      link.download = secrets ? 'ondemand-proxy-export-with-secrets.json' : 'ondemand-proxy-export.json';
      link.click();
      URL.revokeObjectURL(link.href);
    } catch (e) {
      setError(e);
    }
  };
  const upload = async (file: File | null) => {
    setError(null);
    setReport(null);
    if (!file) return;
    try {
      const doc = JSON.parse(await file.text());
      setReport(await importer.mutateAsync({ doc, mode }));
    } catch (e) {
      setError(e instanceof SyntaxError ? new Error(t('accounts.transfer.notJson')) : e);
    } finally {
      reset.current?.();
    }
  };
  const summary = (o: ImportReport['accounts']) => t('accounts.transfer.summary', { added: o.added.length, replaced: o.replaced.length, skipped: o.skipped.length });

  return (
    <Modal opened={opened} onClose={onClose} title={t('accounts.transfer.title')} centered size="lg" closeButtonProps={{ 'aria-label': t('common.close') }}>
      <Stack>
        <Text size="sm">{t('accounts.transfer.exportHint')}</Text>
        <Checkbox label={t('accounts.transfer.withSecrets')} checked={secrets} onChange={(e) => setSecrets(e.currentTarget.checked)} />
        {secrets && <Alert color="yellow" p="xs">{t('accounts.transfer.secretsWarning')}</Alert>}
        <Group>
          <Button leftSection={<IconDownload size={16} />} onClick={download}>
            {t('accounts.transfer.export')}
          </Button>
        </Group>
        <Text size="sm" mt="md">{t('accounts.transfer.importHint')}</Text>
        <SegmentedControl
          value={mode}
          onChange={(v) => setMode(v as typeof mode)}
          data={[
            { value: 'skip', label: t('accounts.transfer.skip') },
            { value: 'replace', label: t('accounts.transfer.replace') },
          ]}
        />
        <Group>
          <FileButton onChange={upload} accept="application/json,.json" resetRef={reset}>
            {(props) => (
              <Button variant="default" leftSection={<IconUpload size={16} />} loading={importer.isPending} {...props}>
                {t('accounts.transfer.import')}
              </Button>
            )}
          </FileButton>
        </Group>
        <ErrorAlert error={error} />
        {report && (
          <Alert color="teal" title={t('accounts.transfer.done')}>
            <Text size="sm">{t('accounts.transfer.accounts')}: {summary(report.accounts)}</Text>
            <Text size="sm">{t('accounts.transfer.tokens')}: {summary(report.tokens)}</Text>
            <Text size="sm">{t('accounts.transfer.aliases')}: {summary(report.aliases)}</Text>
            {[...report.accounts.skipped, ...report.tokens.skipped, ...report.aliases.skipped].map((s) => (
              <Text size="xs" key={s.name}>· {s.name}: {s.reason}</Text>
            ))}
            {report.new_token_secrets.map((s) => (
              <Badge key={s.name} variant="light" size="lg" tt="none">
                {s.name}: {s.secret}
              </Badge>
            ))}
          </Alert>
        )}
      </Stack>
    </Modal>
  );
}


