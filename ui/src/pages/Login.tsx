import { useState } from 'react';
import { Alert, Button, Card, Center, Group, PasswordInput, Stack, Text, Title } from '@mantine/core';
import { useTranslation } from 'react-i18next';
import { ApiError, api } from '../api/client';
import { LANGUAGES } from '../i18n';
import { readableError } from '../lib/errors';

export function Login({ onSignedIn }: { onSignedIn: () => void | Promise<void> }) {
  const { t, i18n } = useTranslation();
  const [password, setPassword] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const submit = async () => {
    setBusy(true);
    setError(null);
    try {
      await api('/api/login', { method: 'POST', body: { password } });
      await onSignedIn();
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  const message = error instanceof ApiError && error.status === 401 ? t('login.wrong') : error ? readableError(error, t) : null;
  return (
    <Center mih="100vh" p="md">
      <Card withBorder shadow="sm" padding="xl" w={380}>
        <form
          onSubmit={(e) => {
            e.preventDefault();
            void submit();
          }}
        >
          <Stack>
            <Group gap="xs">
              <img src="favicon.svg" width={28} height={28} alt="" />
              <Title order={1} size="h3">OnDemand Proxy</Title>
            </Group>
            <Text size="sm" c="dimmed">{t('login.hint')}</Text>
            <PasswordInput
              label={t('login.password')}
              value={password}
              onChange={(e) => setPassword(e.currentTarget.value)}
              error={message}
              autoFocus
              data-testid="login-password"
            />
            <Button type="submit" loading={busy} disabled={!password} data-testid="login-submit">{t('login.submit')}</Button>
            {error instanceof ApiError && error.status === 429 && <Alert color="yellow">{t('login.tooMany')}</Alert>}
            <Group gap="xs" justify="center">
              {LANGUAGES.map((l) => (
                <Button key={l.code} size="compact-xs" variant={i18n.resolvedLanguage === l.code ? 'light' : 'subtle'} onClick={() => void i18n.changeLanguage(l.code)}>
                  {l.label}
                </Button>
              ))}
            </Group>
          </Stack>
        </form>
      </Card>
    </Center>
  );
}
