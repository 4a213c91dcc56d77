// "Try the demo": a simulated account for a user who has no on-demand.io key yet, so they can
// send a test request and watch the dashboard move; and, while it is there, a notice that
// says so and removes it in one click.

import { Alert, Button, Group, Text } from '@mantine/core';
import { IconFlask } from '@tabler/icons-react';
import { useTranslation } from 'react-i18next';
import { Link } from 'react-router';
import { useAccounts, useEndDemo, useSession, useStartDemo } from '../api/hooks';
import { settle } from '../lib/notify';

export function TryDemoButton() {
  const { t } = useTranslation();
  const start = useStartDemo();
  return (
    <Button
      variant="light"
      color="grape"
      leftSection={<IconFlask size={16} />}
      loading={start.isPending}
      onClick={() => settle(start.mutateAsync(), t, t('demo.started'))}
      data-testid="try-demo"
    >
      {t('demo.try')}
    </Button>
  );
}

/** Shown while a simulated account from *Try the demo* is there (not under `--demo`, whose
 * header badge says it all). */
export function DemoNotice() {
  const { t } = useTranslation();
  const accounts = useAccounts();
  const demoMode = useSession().data?.demo ?? false;
  const end = useEndDemo();
  const simulated = accounts.data?.filter((a) => a.simulated && a.source === 'api') ?? [];
  if (demoMode || simulated.length === 0) return null;
  return (
    <Alert color="grape" icon={<IconFlask size={18} />} title={t('demo.noticeTitle')} mb="sm" data-testid="demo-notice">
      <Text size="sm">{t('demo.notice', { name: simulated[0].name })}</Text>
      <Group gap="xs" mt="xs">
        <Button component={Link} to="/connect" size="xs" variant="light" color="grape">
          {t('demo.sendTest')}
        </Button>
        <Button
          size="xs"
          variant="subtle"
          color="grape"
          loading={end.isPending}
          onClick={() => settle(end.mutateAsync(), t, t('demo.ended'))}
          data-testid="end-demo"
        >
          {t('demo.end')}
        </Button>
      </Group>
    </Alert>
  );
}
