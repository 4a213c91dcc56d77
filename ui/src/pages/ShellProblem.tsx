import { useState } from 'react';
import { Alert, Button, Card, Center, Group, NumberInput, Stack, Text, Title } from '@mantine/core';
import { useTranslation } from 'react-i18next';
import type { ShellError } from '../api/client';
import { shellError, switchToPort } from '../api/shell';

/** The desktop window when the in-process server could not start: which port, why, and a
 * one-click way onto a free one. */
export function ShellProblem({ error }: { error: ShellError }) {
  const { t } = useTranslation();
  const [port, setPort] = useState<number | string>(error.suggestion ?? 8788);
  const [busy, setBusy] = useState(false);
  const [failure, setFailure] = useState<string | null>(null);
  const switchPort = async (p: number) => {
    setBusy(true);
    setFailure(null);
    try {
      // On success the window reopens on the new address.
      await switchToPort(p);
    } catch (e) {
      setFailure(shellError(e).message);
    } finally {
      setBusy(false);
    }
  };
  return (
    <Center mih="100vh" p="md">
      <Card withBorder shadow="sm" padding="xl" maw={520} data-testid="shell-problem">
        <Stack>
          <Title order={1} size="h3">
            {t('shell.title')}
          </Title>
          <Alert color="red">
            {error.reason === 'in_use'
              ? t('shell.inUse', { port: error.port })
              : error.reason === 'not_allowed'
                ? t('shell.notAllowed', { port: error.port })
                : t('shell.other', { message: error.message ?? '' })}
          </Alert>
          {error.suggestion && (
            <Button onClick={() => switchPort(error.suggestion as number)} loading={busy} data-testid="use-suggested-port">
              {t('shell.useSuggested', { port: error.suggestion })}
            </Button>
          )}
          <Text size="sm" c="dimmed">
            {t('shell.orChoose')}
          </Text>
          <Group align="flex-end">
            <NumberInput label={t('shell.port')} value={port} onChange={setPort} min={1024} max={65535} w={160} />
            <Button variant="default" onClick={() => switchPort(Number(port))} loading={busy}>
              {t('shell.use')}
            </Button>
          </Group>
          {failure && <Alert color="red">{failure}</Alert>}
        </Stack>
      </Card>
    </Center>
  );
}
