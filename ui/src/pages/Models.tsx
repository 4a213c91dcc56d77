import { useState } from 'react';
import { ActionIcon, Alert, Badge, Button, Card, Menu, Table, Text, TextInput } from '@mantine/core';
import { notifications } from '@mantine/notifications';
import { IconDots, IconPlus } from '@tabler/icons-react';
import { useTranslation } from 'react-i18next';
import { useAliases, useCreateAlias, useDeleteAlias, usePutAlias } from '../api/hooks';
import type { Alias } from '../api/types';
import { Confirm, ErrorAlert, FormModal, PageHeader } from '../components/common';
import { fieldError, formLevelError } from '../lib/errors';
import { settle } from '../lib/notify';

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
      <Alert color="blue" mb="md" p="sm">
        {t('models.passthrough')}
      </Alert>
      <ErrorAlert error={aliases.error} />
      <Card withBorder padding={0}>
        <Table.ScrollContainer minWidth={560}>
          <Table highlightOnHover verticalSpacing={6} fz="sm" data-testid="aliases-table">
            <Table.Thead>
              <Table.Tr>
                <Table.Th>{t('models.alias')}</Table.Th>
                <Table.Th>{t('models.endpoint')}</Table.Th>
                <Table.Th>{t('models.source')}</Table.Th>
                <Table.Th />
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {(aliases.data ?? []).map((a) => (
                <Table.Tr key={a.alias}>
                  <Table.Td fw={600}>{a.alias}</Table.Td>
                  <Table.Td>
                    <Text size="sm" ff="monospace">{a.endpoint_id}</Text>
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
            </Table.Tbody>
          </Table>
        </Table.ScrollContainer>
      </Card>
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
