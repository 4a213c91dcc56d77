import { useState } from 'react';
import { ActionIcon, Badge, Button, Card, Group, Menu, Stack, Table, Text, TextInput, Textarea, Title } from '@mantine/core';
import { notifications } from '@mantine/notifications';
import { IconDots, IconPlus } from '@tabler/icons-react';
import { useTranslation } from 'react-i18next';
import { usePatterns, usePutPatterns, useResetPatterns } from '../api/hooks';
import type { Pattern, PatternView } from '../api/types';
import { Confirm, ErrorAlert, FormModal, ListTable } from '../components/common';
import { fieldError, formLevelError } from '../lib/errors';
import { settle } from '../lib/notify';
import { edited, moved } from '../lib/patterns';

const plain = (list: PatternView[]): Pattern[] => list.map(({ pattern, targets }) => ({ pattern, targets }));

/** The ordered patterns that map the model ids agents send (claude-opus-4-1-…) to endpoints. */
export function Patterns() {
  const { t } = useTranslation();
  const patterns = usePatterns();
  const put = usePutPatterns();
  const reset = useResetPatterns();
  const [editing, setEditing] = useState<number | 'new' | null>(null);
  const [resetting, setResetting] = useState(false);
  const list = patterns.data?.data ?? [];
  const save = (next: Pattern[]) => settle(put.mutateAsync(next), t);
  return (
    <Card withBorder padding={0} mt="lg">
      <Group justify="space-between" p="sm" wrap="wrap" gap="xs">
        <div>
          <Title order={2} size="h5">
            {t('models.patterns.title')}
          </Title>
          <Text size="sm" c="dimmed" maw={720}>
            {t('models.patterns.hint')}
          </Text>
        </div>
        <Group gap="xs">
          {patterns.data && !patterns.data.builtin && (
            <Button size="xs" variant="subtle" color="gray" onClick={() => setResetting(true)} data-testid="reset-patterns">
              {t('models.patterns.reset')}
            </Button>
          )}
          <Button size="xs" variant="light" leftSection={<IconPlus size={14} />} onClick={() => setEditing('new')} data-testid="add-pattern">
            {t('models.patterns.add')}
          </Button>
        </Group>
      </Group>
      <ErrorAlert error={patterns.error} />
      <ListTable headers={[t('models.patterns.pattern'), t('models.patterns.targets'), '']} minWidth={560} testId="patterns-table" verticalSpacing={6}>
        {list.map((p, i) => (
          <Table.Tr key={`${i}-${p.pattern}`}>
            <Table.Td fw={600} ff="monospace">
              {p.pattern}
            </Table.Td>
            <Table.Td>
              <Stack gap={2}>
                {p.targets.map((target) => (
                  <Group key={target} gap={6} wrap="nowrap">
                    <Text size="sm" ff="monospace" c={target === p.resolves_to ? undefined : 'dimmed'}>
                      {target}
                    </Text>
                    {target === p.resolves_to && (
                      <Badge size="xs" color="teal" variant="light">
                        {t('models.patterns.inUse')}
                      </Badge>
                    )}
                  </Group>
                ))}
                {!p.resolves_to && (
                  <Badge color="red" variant="light" w="fit-content" data-testid="pattern-dead">
                    {t('models.patterns.none')}
                  </Badge>
                )}
              </Stack>
            </Table.Td>
            <Table.Td>
              <Menu position="bottom-end">
                <Menu.Target>
                  <ActionIcon variant="subtle" aria-label={t('common.actions')}>
                    <IconDots size={16} />
                  </ActionIcon>
                </Menu.Target>
                <Menu.Dropdown>
                  <Menu.Item onClick={() => setEditing(i)}>{t('common.edit')}</Menu.Item>
                  <Menu.Item disabled={i === 0} onClick={() => void save(moved(plain(list), i, -1))}>
                    {t('models.patterns.up')}
                  </Menu.Item>
                  <Menu.Item disabled={i === list.length - 1} onClick={() => void save(moved(plain(list), i, 1))}>
                    {t('models.patterns.down')}
                  </Menu.Item>
                  <Menu.Item color="red" onClick={() => void save(edited(plain(list), i, null))}>
                    {t('common.delete')}
                  </Menu.Item>
                </Menu.Dropdown>
              </Menu>
            </Table.Td>
          </Table.Tr>
        ))}
      </ListTable>
      {editing !== null && (
        <PatternForm
          list={plain(list)}
          at={editing === 'new' ? null : editing}
          onClose={() => setEditing(null)}
        />
      )}
      <Confirm
        opened={resetting}
        title={t('models.patterns.reset')}
        message={t('models.patterns.resetMessage')}
        confirmLabel={t('models.patterns.reset')}
        loading={reset.isPending}
        onCancel={() => setResetting(false)}
        onConfirm={() => settle(reset.mutateAsync(), t).then(() => setResetting(false))}
      />
    </Card>
  );
}

function PatternForm({ list, at, onClose }: { list: Pattern[]; at: number | null; onClose: () => void }) {
  const { t } = useTranslation();
  const put = usePutPatterns();
  const current = at === null ? null : list[at];
  const [pattern, setPattern] = useState(current?.pattern ?? '');
  const [targets, setTargets] = useState((current?.targets ?? []).join('\n'));
  const index = at ?? list.length;
  // The server names fields by their place in the list; this form edits one entry.
  const error = put.error;
  const field = (name: string) => fieldError(error, `patterns[${index}].${name}`, t);
  const submit = async () => {
    const next = { pattern, targets: targets.split(/\s+/).filter(Boolean) };
    try {
      await put.mutateAsync(edited(list, at, next));
      notifications.show({ color: 'teal', message: t('models.patterns.saved') });
      onClose();
    } catch {
      // Shown inline below.
    }
  };
  return (
    <FormModal
      title={current ? t('models.patterns.editTitle', { pattern: current.pattern }) : t('models.patterns.addTitle')}
      onClose={onClose}
      onSubmit={() => void submit()}
      formError={formLevelError(error, [`patterns[${index}].pattern`, `patterns[${index}].targets`], t)}
      submitLabel={t('common.save')}
      loading={put.isPending}
      testId="pattern-form"
    >
      <TextInput
        label={t('models.patterns.pattern')}
        description={t('models.patterns.patternHint')}
        value={pattern}
        onChange={(e) => setPattern(e.currentTarget.value)}
        error={field('pattern')}
        data-testid="pattern-name"
      />
      <Textarea
        label={t('models.patterns.targets')}
        description={t('models.patterns.targetsHint')}
        value={targets}
        onChange={(e) => setTargets(e.currentTarget.value)}
        error={field('targets')}
        autosize
        minRows={3}
        data-testid="pattern-targets"
      />
    </FormModal>
  );
}
