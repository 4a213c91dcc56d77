import { useState } from 'react';
import { Alert, Button, Card, Code, Group, NumberInput, SegmentedControl, Stack, Switch, Text, Title } from '@mantine/core';
import { notifications } from '@mantine/notifications';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useTranslation } from 'react-i18next';
import { type PrefsChanges, getPreferences, setPreferences, shellError } from '../api/shell';
import { ErrorAlert } from '../components/common';

const KEY = ['desktop-preferences'];
const LOOPBACK = '127.0.0.1';
const EVERYWHERE = '0.0.0.0';

/** The desktop app's own preferences (the settings page's first card, in the app only).
 * Each applies at once; a new port or address reopens the window on it. Listening on every
 * interface and launching at login are confirmed by the app itself, in a native dialog. */
export function DesktopSettings() {
  const { t } = useTranslation();
  const client = useQueryClient();
  const prefs = useQuery({ queryKey: KEY, queryFn: getPreferences });
  const [port, setPort] = useState<number | string>('');
  const change = useMutation({
    mutationFn: (changes: PrefsChanges) => setPreferences(changes),
    onSuccess: (data) => {
      client.setQueryData(KEY, data);
      notifications.show({ color: 'teal', message: t('desktop.saved') });
    },
  });
  // A no in the app's dialog changed nothing, and needs no message.
  const refused = change.error ? shellError(change.error) : null;
  const error = refused?.code === 'declined' ? null : refused;
  const fieldError = (field: string) => (error?.field === field ? error.message : undefined);
  if (!prefs.data) return <ErrorAlert error={prefs.error} />;
  const p = prefs.data;
  const shownPort = port === '' ? p.port : port;

  return (
    <Card withBorder padding="md" data-testid="desktop-settings">
      <Title order={3} size="h5" mb="xs">
        {t('desktop.title')}
      </Title>
      <Stack gap="md">
        <div>
          <Text size="sm" fw={500}>
            {t('desktop.address')}
          </Text>
          <Text size="xs" c="dimmed" mb={4}>
            {t('desktop.addressHint')}
          </Text>
          <SegmentedControl
            value={p.host === LOOPBACK || p.host === '::1' ? LOOPBACK : EVERYWHERE}
            onChange={(host) => change.mutate({ host })}
            data={[
              { value: LOOPBACK, label: t('desktop.loopback') },
              { value: EVERYWHERE, label: t('desktop.everywhere') },
            ]}
            data-testid="desktop-host"
          />
          {fieldError('host') && (
            <Text size="xs" c="red" mt={4}>
              {fieldError('host')}
            </Text>
          )}
        </div>
        <Group align="flex-end" gap="xs">
          <NumberInput
            label={t('desktop.port')}
            description={t('desktop.portHint')}
            value={shownPort}
            onChange={setPort}
            min={1024}
            max={65535}
            allowDecimal={false}
            clampBehavior="none"
            w={220}
            error={fieldError('port')}
            data-testid="desktop-port"
          />
          <Button
            variant="default"
            disabled={Number(shownPort) === p.port}
            loading={change.isPending && change.variables?.port !== undefined}
            onClick={() => change.mutate({ port: Number(shownPort) })}
            data-testid="desktop-port-apply"
          >
            {t('desktop.apply')}
          </Button>
          {error?.suggestion && (
            <Button variant="light" onClick={() => change.mutate({ port: error.suggestion ?? undefined })}>
              {t('shell.useSuggested', { port: error.suggestion })}
            </Button>
          )}
        </Group>
        <Switch
          label={t('desktop.launchAtLogin')}
          description={p.launch_at_login === null ? t('desktop.launchUnavailable') : t('desktop.launchHint')}
          checked={p.launch_at_login ?? false}
          disabled={p.launch_at_login === null}
          onChange={(e) => change.mutate({ launch_at_login: e.currentTarget.checked })}
          error={fieldError('launch_at_login')}
          data-testid="desktop-launch-at-login"
        />
        <Switch
          label={t('desktop.startMinimised')}
          description={t('desktop.startMinimisedHint')}
          checked={p.start_minimised}
          onChange={(e) => change.mutate({ start_minimised: e.currentTarget.checked })}
        />
        <Switch
          label={t('desktop.closeToTray')}
          description={t('desktop.closeToTrayHint')}
          checked={p.close_to_tray}
          onChange={(e) => change.mutate({ close_to_tray: e.currentTarget.checked })}
        />
        <Text size="sm">
          {t('desktop.languageTheme')}
        </Text>
        {p.data_dir && (
          <Text size="sm">
            {t('desktop.dataDir')} <Code>{p.data_dir}</Code>
          </Text>
        )}
        {error && !error.field && <Alert color="red">{error.message}</Alert>}
      </Stack>
    </Card>
  );
}
