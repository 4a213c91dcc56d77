import { useState } from 'react';
import { ActionIcon, Alert, Badge, Button, Card, Group, Menu, Switch, Table, Text, TextInput, Title, Tooltip } from '@mantine/core';
import { notifications } from '@mantine/notifications';
import { IconDots, IconPlus, IconRefresh } from '@tabler/icons-react';
import { useTranslation } from 'react-i18next';
import { useAliases, useCatalogue, useCreateAlias, useDeleteAlias, usePutAlias, useRefreshCatalogue } from '../api/hooks';
import type { Alias, Catalogue as CatalogueData, Endpoint } from '../api/types';
import { Confirm, ErrorAlert, FormModal, ListTable, PageHeader } from '../components/common';
import { fieldError, formLevelError } from '../lib/errors';
import { formatCompact, formatDateTime } from '../lib/format';
import { settle } from '../lib/notify';
import { Patterns } from './Patterns';

/** The live endpoint catalogue: what on-demand.io serves now, and which account sees what. */
function Catalogue() {
  const { t } = useTranslation();
  const catalogue = useCatalogue();
  const refresh = useRefreshCatalogue();
  const [showGone, setShowGone] = useState(false);
  const data = catalogue.data;
  const endpoints = (data?.endpoints ?? [])
    .filter((e) => showGone || e.available)
    .sort((a, b) => Number(b.available) - Number(a.available) || a.id.localeCompare(b.id));
  return (
    <Card withBorder padding={0} mb="lg">
      <Group justify="space-between" p="sm" wrap="wrap" gap="xs">
        <div>
          <Title order={2} size="h5">
            {t('models.catalogue.title')}
          </Title>
          <CatalogueStatus data={data} />
        </div>
        <Group gap="sm">
          <Switch size="xs" label={t('models.catalogue.showGone')} checked={showGone} onChange={(e) => setShowGone(e.currentTarget.checked)} />
          <Button
            size="xs"
            variant="light"
            leftSection={<IconRefresh size={14} />}
            loading={refresh.isPending}
            onClick={() => void settle(refresh.mutateAsync(), t)}
            data-testid="refresh-catalogue"
          >
            {t('models.catalogue.refresh')}
          </Button>
        </Group>
      </Group>
      <ErrorAlert error={catalogue.error} />
      {data?.known && (
        <ListTable headers={[t('models.catalogue.model'), t('models.catalogue.status'), t('models.catalogue.reasoning'), t('models.catalogue.context'), t('models.catalogue.accounts')]} minWidth={760} testId="catalogue-table" verticalSpacing={6}>
              {endpoints.map((e) => (
                <EndpointRow key={e.id} endpoint={e} readers={data.reads.length} />
              ))}
        </ListTable>
      )}
    </Card>
  );
}

function CatalogueStatus({ data }: { data: CatalogueData | undefined }) {
  const { t, i18n } = useTranslation();
  const lang = i18n.resolvedLanguage ?? 'en';
  if (!data) return null;
  const failed = data.reads.filter((r) => r.error);
  const lastOk = Math.max(0, ...data.reads.map((r) => r.ok_at ?? 0));
  return (
    <>
      <Text size="sm" c="dimmed">
        {data.known
          ? t('models.catalogue.known', { n: data.endpoints.filter((e) => e.available).length, time: formatDateTime(lastOk, lang) })
          : t('models.catalogue.unknown')}
      </Text>
      {failed.map((r) => (
        <Text key={r.account} size="sm" c="orange.8" data-testid="catalogue-read-error">
          {t(r.ok_at ? 'models.catalogue.readFailedKept' : 'models.catalogue.readFailed', { account: r.account, error: r.error })}
        </Text>
      ))}
    </>
  );
}

/** One endpoint; `readers` is how many accounts read the catalogue (all of them seeing it
 * reads "all accounts" rather than a list). */
function EndpointRow({ endpoint: e, readers }: { endpoint: Endpoint; readers: number }) {
  const { t, i18n } = useTranslation();
  const lang = i18n.resolvedLanguage ?? 'en';
  const seenBy = e.accounts.length === 0 ? '—' : e.accounts.length === readers && readers > 1 ? t('models.catalogue.allAccounts') : e.accounts.join(', ');
  return (
    <Table.Tr>
      <Table.Td>
        <Group gap={6} wrap="nowrap">
          <Text size="sm" fw={600} ff={e.clean_id ? undefined : 'monospace'}>
            {e.clean_id ?? e.id}
          </Text>
          {e.premium && (
            <Badge size="xs" variant="light" color="violet" style={{ flexShrink: 0 }}>
              {t('models.catalogue.premium')}
            </Badge>
          )}
        </Group>
        {e.clean_id && (
          <Text size="xs" c="dimmed" ff="monospace">
            {e.id}
          </Text>
        )}
      </Table.Td>
      <Table.Td style={{ whiteSpace: 'nowrap' }}>
        <Badge variant="light" color={e.available ? 'teal' : 'gray'} style={{ flexShrink: 0 }}>
          {t(e.available ? 'models.catalogue.active' : e.active ? 'models.catalogue.unlisted' : 'models.catalogue.inactive')}
        </Badge>
      </Table.Td>
      <Table.Td>{e.reasoning_efforts.length ? e.reasoning_efforts.join(', ') : '—'}</Table.Td>
      <Table.Td>{e.context_length ? formatCompact(e.context_length, lang) : '—'}</Table.Td>
      <Table.Td>
        <Text size="sm" maw={200} lineClamp={2} title={e.accounts.join(', ')}>
          {seenBy}
        </Text>
      </Table.Td>
    </Table.Tr>
  );
}

export function Models() {
  const { t } = useTranslation();
  const aliases = useAliases();
  const [editing, setEditing] = useState<Alias | 'new' | null>(null);
  const [deleting, setDeleting] = useState<Alias | null>(null);
  const remove = useDeleteAlias();
  return (
    <>
      <PageHeader
        title={t('models.title')}
        description={t('models.description')}
        actions={
          <Button leftSection={<IconPlus size={16} />} onClick={() => setEditing('new')} data-testid="add-alias">
            {t('models.add')}
          </Button>
        }
      />
      <Catalogue />
      <Title order={2} size="h5" mb="xs">
        {t('models.aliases')}
      </Title>
      <Alert color="blue" mb="md" p="sm">
        {t('models.passthrough')}
      </Alert>
      <ErrorAlert error={aliases.error} />
      <Card withBorder padding={0}>
        <ListTable headers={[t('models.alias'), t('models.endpoint'), t('models.source'), '']} minWidth={560} testId="aliases-table" verticalSpacing={6}>
              {(aliases.data ?? []).map((a) => (
                <Table.Tr key={a.alias}>
                  <Table.Td fw={600}>{a.alias}</Table.Td>
                  <Table.Td>
                    <Group gap={6} wrap="nowrap">
                      <Text size="sm" ff="monospace">
                        {a.endpoint_id}
                      </Text>
                      {a.target_available === false && (
                        <Tooltip label={t('models.deadTargetHint')} multiline w={260}>
                          <Badge color="red" variant="light" data-testid="dead-target">
                            {t('models.deadTarget')}
                          </Badge>
                        </Tooltip>
                      )}
                    </Group>
                  </Table.Td>
                  <Table.Td>
                    <Badge variant="light" color={a.source === 'custom' ? 'blue' : 'gray'}>
                      {a.overrides_builtin ? t('models.overridden') : t(`models.sources.${a.source}`)}
                    </Badge>
                  </Table.Td>
                  <Table.Td>
                    <Menu position="bottom-end">
                      <Menu.Target>
                        <ActionIcon variant="subtle" aria-label={t('common.actions')}>
                          <IconDots size={16} />
                        </ActionIcon>
                      </Menu.Target>
                      <Menu.Dropdown>
                        <Menu.Item onClick={() => setEditing(a)}>{a.source === 'builtin' ? t('models.override') : t('common.edit')}</Menu.Item>
                        <Menu.Item color="red" disabled={a.source === 'builtin'} onClick={() => setDeleting(a)}>
                          {a.overrides_builtin ? t('models.restore') : t('common.delete')}
                        </Menu.Item>
                      </Menu.Dropdown>
                    </Menu>
                  </Table.Td>
                </Table.Tr>
              ))}
        </ListTable>
      </Card>
      <Patterns />
      {editing && <AliasForm alias={editing === 'new' ? null : editing} onClose={() => setEditing(null)} />}
      <Confirm
        opened={deleting !== null}
        title={t('models.deleteTitle')}
        message={deleting?.overrides_builtin ? t('models.restoreMessage', { alias: deleting?.alias }) : t('models.deleteMessage', { alias: deleting?.alias })}
        confirmLabel={deleting?.overrides_builtin ? t('models.restore') : t('common.delete')}
        loading={remove.isPending}
        onCancel={() => setDeleting(null)}
        onConfirm={() =>
          deleting &&
          settle(remove.mutateAsync(deleting.alias), t).then(() => setDeleting(null))
        }
      />
    </>
  );
}

function AliasForm({ alias, onClose }: { alias: Alias | null; onClose: () => void }) {
  const { t } = useTranslation();
  const create = useCreateAlias();
  const put = usePutAlias();
  const [name, setName] = useState(alias?.alias ?? '');
  const [endpoint, setEndpoint] = useState(alias?.endpoint_id ?? '');
  const mutation = alias ? put : create;
  const error = mutation.error;
  const submit = async () => {
    try {
      if (alias) await put.mutateAsync({ alias: alias.alias, endpoint_id: endpoint });
      else await create.mutateAsync({ alias: name, endpoint_id: endpoint });
      notifications.show({ color: 'teal', message: t('models.saved') });
      onClose();
    } catch {
      // Shown inline below.
    }
  };
  return (
    <FormModal
      title={alias ? t('models.editTitle', { alias: alias.alias }) : t('models.addTitle')}
      onClose={onClose}
      onSubmit={() => void submit()}
      formError={formLevelError(error, ['alias', 'endpoint_id'], t)}
      submitLabel={t('common.save')}
      loading={mutation.isPending}
      testId="alias-form"
    >
      <TextInput label={t('models.alias')} value={name} disabled={Boolean(alias)} onChange={(e) => setName(e.currentTarget.value)} error={fieldError(error, 'alias', t)} data-testid="alias-name" />
      <TextInput
        label={t('models.endpoint')}
        description={t('models.endpointHint')}
        value={endpoint}
        onChange={(e) => setEndpoint(e.currentTarget.value)}
        error={fieldError(error, 'endpoint_id', t)}
        data-testid="alias-endpoint"
      />
    </FormModal>
  );
}
