import { useState } from 'react';
import {
  ActionIcon, Alert, Button, Card, Code, CopyButton, Group, Menu, Modal, MultiSelect, NumberInput, Stack, Switch, Table,
  Text, TextInput, Tooltip,
} from '@mantine/core';
import { notifications } from '@mantine/notifications';
import { IconCheck, IconCopy, IconDots, IconPlus } from '@tabler/icons-react';
import { useTranslation } from 'react-i18next';
import { type TokenInput, useAliases, useCreateToken, useDeleteToken, useTokens, useUpdateToken, useUsageToday } from '../api/hooks';
import { inShell } from '../api/shell';
import type { NewToken, Token } from '../api/types';
import { Confirm, Empty, ErrorAlert, FormModal, ListTable, PageHeader, SourceBadge } from '../components/common';
import { fieldError, formLevelError } from '../lib/errors';
import { keepToken } from '../lib/kept';
import { settle } from '../lib/notify';
import { formatCompact, formatDateTime, formatNumber } from '../lib/format';

export function Tokens() {
  const { t, i18n } = useTranslation();
  const lang = i18n.resolvedLanguage ?? 'en';
  const tokens = useTokens();
  const usage = useUsageToday('token');
  const [editing, setEditing] = useState<Token | 'new' | null>(null);
  const [revoking, setRevoking] = useState<Token | null>(null);
  const [created, setCreated] = useState<NewToken | null>(null);
  const update = useUpdateToken();
  const remove = useDeleteToken();
  const act = (p: Promise<unknown>) => settle(p, t);

  const limits = (x: Token) => {
    const parts: string[] = [];
    if (x.expires_at) parts.push(t('tokens.expires', { at: formatDateTime(x.expires_at, lang) }));
    if (x.quota_requests) parts.push(t('tokens.quotaRequests', { n: formatNumber(x.quota_requests, lang) }));
    if (x.quota_tokens) parts.push(t('tokens.quotaTokens', { n: formatCompact(x.quota_tokens, lang) }));
    if (x.rpm) parts.push(t('tokens.rpmValue', { n: x.rpm }));
    if (x.max_concurrent) parts.push(t('tokens.concurrentValue', { n: x.max_concurrent }));
    if (x.models) parts.push(t('tokens.modelsValue', { n: x.models.length }));
    return parts.length ? parts.join(' · ') : t('tokens.noLimits');
  };

  return (
    <>
      <PageHeader
        title={t('tokens.title')}
        description={t('tokens.description')}
        actions={
          <Button leftSection={<IconPlus size={16} />} onClick={() => setEditing('new')} data-testid="add-token">
            {t('tokens.create')}
          </Button>
        }
      />
      <ErrorAlert error={tokens.error} />
      {tokens.data?.length === 0 && <Empty title={t('tokens.empty')} />}
      {tokens.data && tokens.data.length > 0 && (
        <Card withBorder padding={0}>
          <ListTable headers={[t('tokens.name'), t('tokens.limits'), t('tokens.used'), t('tokens.today'), t('tokens.lastUsed'), t('tokens.enabled'), '']} minWidth={760} testId="tokens-table" compact={{ hide: [1, 2, 4], minWidth: 480 }}>
                {tokens.data.map((x) => {
                  const readOnly = x.source === 'config';
                  const day = usage.get(x.name);
                  return (
                    <Table.Tr key={x.id} data-testid={`token-${x.name}`}>
                      <Table.Td>
                        <Group gap={6} wrap="nowrap">
                          <Text size="sm" fw={600}>{x.name}</Text>
                          <SourceBadge source={x.source} />
                        </Group>
                        <Code>{x.prefix}</Code>
                      </Table.Td>
                      <Table.Td maw={260}>
                        <Text size="xs">{limits(x)}</Text>
                      </Table.Td>
                      <Table.Td>
                        {t('tokens.usedValue', { requests: formatNumber(x.used_requests, lang), tokens: formatCompact(x.used_tokens, lang) })}
                        {x.used_uploads > 0 && ` · ${t('tokens.uploadsValue', { n: formatNumber(x.used_uploads, lang) })}`}
                      </Table.Td>
                      <Table.Td>
                        {t('tokens.usedValue', { requests: formatNumber(day?.requests ?? 0, lang), tokens: formatCompact((day?.input_tokens ?? 0) + (day?.output_tokens ?? 0), lang) })}
                      </Table.Td>
                      <Table.Td>{formatDateTime(x.last_used_at, lang)}</Table.Td>
                      <Table.Td>
                        <Switch
                          checked={x.enabled}
                          disabled={readOnly}
                          aria-label={t('tokens.enabled')}
                          onChange={(e) => act(update.mutateAsync({ id: x.id, enabled: e.currentTarget.checked }))}
                        />
                      </Table.Td>
                      <Table.Td>
                        <Menu position="bottom-end">
                          <Menu.Target>
                            <ActionIcon variant="subtle" aria-label={t('common.actions')} disabled={readOnly}>
                              <IconDots size={16} />
                            </ActionIcon>
                          </Menu.Target>
                          <Menu.Dropdown>
                            <Menu.Item onClick={() => setEditing(x)}>{t('tokens.editLimits')}</Menu.Item>
                            <Menu.Item color="red" onClick={() => setRevoking(x)}>{t('tokens.revoke')}</Menu.Item>
                          </Menu.Dropdown>
                        </Menu>
                      </Table.Td>
                    </Table.Tr>
                  );
                })}
          </ListTable>
        </Card>
      )}
      {tokens.data?.some((x) => x.source === 'config') && (
        <Text size="xs" c="dimmed" mt="xs">
          {t(inShell() ? 'tokens.defaultHintApp' : 'tokens.defaultHint')}
        </Text>
      )}
      {editing && (
        <TokenForm
          token={editing === 'new' ? null : editing}
          onClose={() => setEditing(null)}
          onCreated={(n) => {
            setEditing(null);
            setCreated(n);
            keepToken({ name: n.name, secret: n.secret });
          }}
        />
      )}
      {created && <SecretOnce token={created} onClose={() => setCreated(null)} />}
      <Confirm
        opened={revoking !== null}
        title={t('tokens.revokeTitle')}
        message={t('tokens.revokeMessage', { name: revoking?.name })}
        confirmLabel={t('tokens.revoke')}
        loading={remove.isPending}
        onCancel={() => setRevoking(null)}
        onConfirm={() =>
          revoking &&
          settle(remove.mutateAsync(revoking.id), t, t('tokens.revoked', { name: revoking.name })).then(() => setRevoking(null))
        }
      />
    </>
  );
}

/** `datetime-local` text ↔ Unix ms, in the reader's time zone. */
function toLocalInput(ms: number | null): string {
  if (!ms) return '';
  const d = new Date(ms);
  d.setMinutes(d.getMinutes() - d.getTimezoneOffset());
  return d.toISOString().slice(0, 16);
}

const numberOrNull = (v: number | string) => (v === '' || v === null ? null : Number(v));
const FIELDS = ['name', 'expires_at', 'quota_requests', 'quota_tokens', 'models', 'rpm', 'max_concurrent'];

function TokenForm({ token, onClose, onCreated }: { token: Token | null; onClose: () => void; onCreated: (t: NewToken) => void }) {
  const { t } = useTranslation();
  const aliases = useAliases();
  const create = useCreateToken();
  const update = useUpdateToken();
  const [name, setName] = useState(token?.name ?? '');
  const [expires, setExpires] = useState(toLocalInput(token?.expires_at ?? null));
  const [quotaRequests, setQuotaRequests] = useState<number | string>(token?.quota_requests ?? '');
  const [quotaTokens, setQuotaTokens] = useState<number | string>(token?.quota_tokens ?? '');
  const [rpm, setRpm] = useState<number | string>(token?.rpm ?? '');
  const [concurrent, setConcurrent] = useState<number | string>(token?.max_concurrent ?? '');
  const [models, setModels] = useState<string[]>(token?.models ?? []);
  const mutation = token ? update : create;
  const error = mutation.error;

  const submit = async () => {
    const input: TokenInput = {
      expires_at: expires ? new Date(expires).getTime() : null,
      quota_requests: numberOrNull(quotaRequests),
      quota_tokens: numberOrNull(quotaTokens),
      rpm: numberOrNull(rpm),
      max_concurrent: numberOrNull(concurrent),
      models: models.length ? models : null,
    };
    try {
      if (token) {
        await update.mutateAsync({ id: token.id, ...input });
        notifications.show({ color: 'teal', message: t('tokens.saved') });
        onClose();
      } else {
        onCreated(await create.mutateAsync({ name, ...input }));
      }
    } catch {
      // Shown inline below.
    }
  };

  return (
    <FormModal
      title={token ? t('tokens.editTitle', { name: token.name }) : t('tokens.createTitle')}
      onClose={onClose}
      onSubmit={() => void submit()}
      formError={formLevelError(error, FIELDS, t)}
      submitLabel={token ? t('common.save') : t('tokens.create')}
      loading={mutation.isPending}
      testId="token-form"
    >
      <TextInput label={t('tokens.name')} value={name} disabled={Boolean(token)} onChange={(e) => setName(e.currentTarget.value)} error={fieldError(error, 'name', t)} data-testid="token-name" />
      <TextInput type="datetime-local" label={t('tokens.expiresAt')} description={t('tokens.emptyUnlimited')} value={expires} onChange={(e) => setExpires(e.currentTarget.value)} error={fieldError(error, 'expires_at', t)} />
      <Group grow>
        <NumberInput label={t('tokens.quotaRequestsLabel')} description={t('tokens.emptyUnlimited')} value={quotaRequests} onChange={setQuotaRequests} error={fieldError(error, 'quota_requests', t)} data-testid="token-quota" />
        <NumberInput label={t('tokens.quotaTokensLabel')} description={t('tokens.emptyUnlimited')} value={quotaTokens} onChange={setQuotaTokens} error={fieldError(error, 'quota_tokens', t)} />
      </Group>
      <Group grow>
        <NumberInput label={t('tokens.rpm')} description={t('tokens.rpmHint')} value={rpm} onChange={setRpm} error={fieldError(error, 'rpm', t)} data-testid="token-rpm" />
        <NumberInput label={t('tokens.concurrent')} description={t('tokens.concurrentHint')} value={concurrent} onChange={setConcurrent} error={fieldError(error, 'max_concurrent', t)} data-testid="token-concurrent" />
      </Group>
      <MultiSelect
        label={t('tokens.models')}
        description={t('tokens.modelsHint')}
        data={(aliases.data ?? []).map((a) => a.alias)}
        value={models}
        onChange={setModels}
        searchable
        clearable
        error={fieldError(error, 'models', t)}
      />
    </FormModal>
  );
}

function SecretOnce({ token, onClose }: { token: NewToken; onClose: () => void }) {
  const { t } = useTranslation();
  return (
    <Modal opened onClose={onClose} title={t('tokens.createdTitle', { name: token.name })} centered closeOnClickOutside={false} closeButtonProps={{ 'aria-label': t('common.close') }}>
      <Stack>
        <Alert color="yellow">{t('tokens.secretWarning')}</Alert>
        <Group wrap="nowrap" gap="xs">
          <Code block style={{ flex: 1, wordBreak: 'break-all' }} data-testid="token-secret">
            {token.secret}
          </Code>
          <CopyButton value={token.secret}>
            {({ copied, copy }) => (
              <Tooltip label={copied ? t('common.copied') : t('common.copy')}>
                <ActionIcon variant="light" size="lg" onClick={copy} aria-label={t('common.copy')} data-testid="copy-secret">
                  {copied ? <IconCheck size={18} /> : <IconCopy size={18} />}
                </ActionIcon>
              </Tooltip>
            )}
          </CopyButton>
        </Group>
        <Group justify="flex-end">
          <Button onClick={onClose} data-testid="secret-done">
            {t('tokens.secretDone')}
          </Button>
        </Group>
      </Stack>
    </Modal>
  );
}
