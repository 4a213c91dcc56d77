import { useMemo, useState } from 'react';
import { Affix, Alert, Badge, Button, Card, Group, NumberInput, Paper, Select, Stack, Switch, Text, TextInput, Title, Tooltip } from '@mantine/core';
import { notifications } from '@mantine/notifications';
import { IconLock } from '@tabler/icons-react';
import { useTranslation } from 'react-i18next';
import { useSettings, useUpdateSettings } from '../api/hooks';
import { inShell } from '../api/shell';
import type { Setting } from '../api/types';
import { ErrorAlert, PageHeader } from '../components/common';
import { fieldError, formLevelError } from '../lib/errors';
import { NetworkTest } from '../components/NetworkTest';
import { DesktopSettings } from './DesktopSettings';
import { changedSettings, groupSettings, inLanguage } from '../lib/settings';

export function Settings() {
  const { t } = useTranslation();
  const settings = useSettings();
  const save = useUpdateSettings();
  const [draft, setDraft] = useState<Record<string, unknown>>({});
  const byKey = useMemo(() => new Map((settings.data ?? []).map((s) => [s.key, s])), [settings.data]);
  const values = useMemo(() => Object.fromEntries((settings.data ?? []).map((s) => [s.key, s.value])), [settings.data]);
  const changes = changedSettings(values, draft);
  const dirty = Object.keys(changes).length > 0;
  const error = save.error;

  const discard = () => {
    setDraft({});
    save.reset();
  };
  const submit = async (body: Record<string, unknown>) => {
    try {
      await save.mutateAsync(body);
      setDraft({});
      notifications.show({ color: 'teal', message: t('settings.saved') });
    } catch {
      // Shown inline.
    }
  };

  return (
    <>
      <PageHeader
        title={t('settings.title')}
        description={t('settings.description')}
        actions={
          <>
            <Button variant="default" disabled={!dirty} onClick={discard}>
              {t('settings.discard')}
            </Button>
            <Button disabled={!dirty} loading={save.isPending} onClick={() => submit(changes)} data-testid="settings-save">
              {t('settings.save')}
            </Button>
          </>
        }
      />
      <ErrorAlert error={settings.error} />
      {formLevelError(error, [...byKey.keys()], t) && <Alert color="red" mb="md">{formLevelError(error, [...byKey.keys()], t)}</Alert>}
      <Stack gap="md">
        {inShell() && <DesktopSettings />}
        {groupSettings(settings.data ?? []).map((group) => [
          <Card withBorder key={group.group} padding="md">
            <Title order={3} size="h5" mb="xs">
              {t(`settings.groups.${group.group}`)}
            </Title>
            <Stack gap="sm">
              {group.settings.map((s) => (
                <Field
                  key={s.key}
                  setting={s}
                  value={s.key in draft ? draft[s.key] : s.value}
                  error={fieldError(error, s.key, t)}
                  onChange={(v) => setDraft((d) => ({ ...d, [s.key]: v }))}
                  onReset={() => submit({ [s.key]: null })}
                />
              ))}
            </Stack>
          </Card>,
          group.group === 'upstream' && <NetworkTest key="network" />,
        ])}
      </Stack>
      {dirty && (
        <Affix position={{ bottom: 20, right: 20 }}>
          <Paper shadow="md" p="sm" withBorder>
            <Group gap="xs">
              <Text size="sm">{t('settings.unsaved', { n: Object.keys(changes).length })}</Text>
              <Button variant="default" size="xs" onClick={discard}>
                {t('settings.discard')}
              </Button>
              <Button size="xs" loading={save.isPending} onClick={() => submit(changes)}>
                {t('settings.save')}
              </Button>
            </Group>
          </Paper>
        </Affix>
      )}
    </>
  );
}

function Field({
  setting, value, error, onChange, onReset,
}: {
  setting: Setting;
  value: unknown;
  error?: string;
  onChange: (v: unknown) => void;
  onReset: () => void;
}) {
  const { t, i18n } = useTranslation();
  const lang = i18n.resolvedLanguage;
  const kind = setting.kind;
  const choiceLabel = (v: unknown) => {
    const choice = setting.choices.find((c) => c.value === v);
    return choice ? inLanguage(choice.label, lang) : String(v);
  };
  const label = (
    <Group gap={6} wrap="nowrap" component="span">
      <span>{inLanguage(setting.label, lang)}</span>
      {setting.source !== 'default' && (
        <Badge size="xs" variant="light" color={setting.editable ? 'blue' : 'gray'}>
          {t(`settings.sources.${setting.source}`)}
        </Badge>
      )}
      {!setting.editable && (
        <Tooltip label={setting.locked_reason ?? ''} multiline maw={320}>
          <IconLock size={14} aria-label={t('settings.locked')} />
        </Tooltip>
      )}
    </Group>
  );
  const shownDefault =
    kind === 'choice' ? choiceLabel(setting.default) : typeof setting.default === 'boolean' ? t(setting.default ? 'settings.on' : 'settings.off') : String(setting.default);
  const description = `${inLanguage(setting.help, lang)} ${t('settings.defaultIs', { value: shownDefault })}`;
  const common = { label, description, error, disabled: !setting.editable, 'data-testid': `setting-${setting.key}` };
  let input;
  if (kind === 'boolean') {
    input = <Switch {...common} checked={Boolean(value)} onChange={(e) => onChange(e.currentTarget.checked)} />;
  } else if (kind === 'choice') {
    input = (
      <Select
        {...common}
        data={setting.choices.map((c) => ({ value: c.value, label: inLanguage(c.label, lang) }))}
        value={String(value)}
        onChange={(v) => onChange(v)}
        allowDeselect={false}
        maw={360}
      />
    );
  } else if (kind === 'text') {
    input = <TextInput {...common} value={String(value ?? '')} onChange={(e) => onChange(e.currentTarget.value)} />;
  } else {
    input = (
      <NumberInput
        {...common}
        value={value as number}
        onChange={(v) => onChange(v === '' ? '' : typeof v === 'number' ? v : Number(v))}
        min={setting.min ?? undefined}
        clampBehavior="none"
        max={setting.max ?? undefined}
        decimalScale={kind === 'seconds' ? 3 : 0}
        suffix={kind === 'seconds' ? ` ${t('settings.secondsSuffix')}` : undefined}
        maw={360}
      />
    );
  }
  return (
    <Group align="flex-end" gap="xs" wrap="nowrap">
      <div style={{ flex: 1 }}>{input}</div>
      {setting.editable && setting.source === 'dashboard' && (
        <Button variant="subtle" size="xs" onClick={onReset}>
          {t('settings.reset')}
        </Button>
      )}
    </Group>
  );
}
