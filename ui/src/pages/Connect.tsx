import { useState } from 'react';
import {
  ActionIcon, Alert, Button, Card, Code, CopyButton, Group, List, PasswordInput, Select, Stack, Tabs, Text, TextInput,
  Textarea, Title, Tooltip,
} from '@mantine/core';
import { IconCheck, IconCopy } from '@tabler/icons-react';
import { useTranslation } from 'react-i18next';
import { ApiError, connection, errorFrom } from '../api/client';
import { useAliases, useCreateToken } from '../api/hooks';
import { PageHeader } from '../components/common';
import { fieldError, readableError } from '../lib/errors';
import { openaiBaseUrl, snippets } from '../lib/snippets';

function Copy({ value }: { value: string }) {
  const { t } = useTranslation();
  return (
    <CopyButton value={value}>
      {({ copied, copy }) => (
        <Tooltip label={copied ? t('common.copied') : t('common.copy')}>
          <ActionIcon variant="subtle" onClick={copy} aria-label={t('common.copy')}>
            {copied ? <IconCheck size={16} /> : <IconCopy size={16} />}
          </ActionIcon>
        </Tooltip>
      )}
    </CopyButton>
  );
}

export function Connect() {
  const { t } = useTranslation();
  const baseUrl = openaiBaseUrl(connection().baseUrl || window.location.origin);
  const aliases = useAliases();
  const create = useCreateToken();
  const [token, setToken] = useState('');
  const [name, setName] = useState('');
  const [model, setModel] = useState<string | null>('gpt-4o');
  const [message, setMessage] = useState(() => t('connect.testMessage'));
  const [answer, setAnswer] = useState<string | null>(null);
  const [testError, setTestError] = useState<unknown>(null);
  const [sending, setSending] = useState(false);
  const shown = token || 'sk-odp-…';
  const code = snippets({ baseUrl, token: shown, model: model ?? 'gpt-4o' });

  const newToken = async () => {
    try {
      const created = await create.mutateAsync({ name });
      setToken(created.secret);
    } catch {
      // Shown inline.
    }
  };
  const send = async () => {
    setSending(true);
    setAnswer(null);
    setTestError(null);
    try {
      const response = await fetch(`${baseUrl}/chat/completions`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
        body: JSON.stringify({ model, messages: [{ role: 'user', content: message }] }),
      });
      const body = await response.json().catch(() => null);
      if (!response.ok) throw errorFrom(response.status, body);
      setAnswer(body?.choices?.[0]?.message?.content ?? '');
    } catch (e) {
      setTestError(e instanceof ApiError ? e : new ApiError(0, 'network'));
    } finally {
      setSending(false);
    }
  };

  return (
    <>
      <PageHeader title={t('connect.title')} description={t('connect.description')} />
      <Stack>
        <Card withBorder>
          <Title order={3} size="h5" mb="xs">{t('connect.baseUrl')}</Title>
          <Group gap="xs">
            <Code fz="md" data-testid="base-url">{baseUrl}</Code>
            <Copy value={baseUrl} />
          </Group>
        </Card>
        <Card withBorder>
          <Title order={3} size="h5" mb="xs">{t('connect.token')}</Title>
          <Text size="sm" c="dimmed" mb="xs">{t('connect.tokenHint')}</Text>
          <Group align="flex-end" gap="xs" mb="xs">
            <TextInput label={t('connect.tokenName')} value={name} onChange={(e) => setName(e.currentTarget.value)} error={fieldError(create.error, 'name', t) ?? (create.error && !(create.error instanceof ApiError && create.error.param) ? readableError(create.error, t) : undefined)} w={240} data-testid="connect-token-name" />
            <Button onClick={newToken} loading={create.isPending} data-testid="connect-create-token">{t('connect.createToken')}</Button>
          </Group>
          <PasswordInput label={t('connect.useToken')} value={token} onChange={(e) => setToken(e.currentTarget.value.trim())} data-testid="connect-token" />
          {create.data && token === create.data.secret && <Alert color="yellow" mt="xs" p="xs">{t('tokens.secretWarning')}</Alert>}
        </Card>
        <Card withBorder>
          <Title order={3} size="h5" mb="xs">{t('connect.setup')}</Title>
          <Tabs defaultValue="cherry">
            <Tabs.List>
              <Tabs.Tab value="cherry">Cherry Studio</Tabs.Tab>
              <Tabs.Tab value="python">Python</Tabs.Tab>
              <Tabs.Tab value="node">Node.js</Tabs.Tab>
              <Tabs.Tab value="curl">curl</Tabs.Tab>
            </Tabs.List>
            <Tabs.Panel value="cherry" pt="sm">
              <List type="ordered" size="sm" spacing={4}>
                <List.Item>{t('connect.cherry.1')}</List.Item>
                <List.Item>{t('connect.cherry.2')}</List.Item>
                <List.Item>{t('connect.cherry.3', { url: baseUrl.replace(/\/v1$/, '') })}</List.Item>
                <List.Item>{t('connect.cherry.4')}</List.Item>
                <List.Item>{t('connect.cherry.5')}</List.Item>
              </List>
            </Tabs.Panel>
            {(['python', 'node', 'curl'] as const).map((lang) => (
              <Tabs.Panel value={lang} pt="sm" key={lang}>
                <Group align="flex-start" wrap="nowrap" gap="xs">
                  <Code block style={{ flex: 1 }}>{code[lang]}</Code>
                  <Copy value={code[lang]} />
                </Group>
              </Tabs.Panel>
            ))}
          </Tabs>
        </Card>
        <Card withBorder>
          <Title order={3} size="h5" mb="xs">{t('connect.test')}</Title>
          <Stack gap="xs">
            <Select label={t('connect.model')} data={(aliases.data ?? []).map((a) => a.alias)} value={model} onChange={setModel} searchable maw={300} allowDeselect={false} />
            <Textarea label={t('connect.message')} value={message} onChange={(e) => setMessage(e.currentTarget.value)} autosize minRows={2} />
            <Group>
              <Button onClick={send} loading={sending} disabled={!token || !message.trim()} data-testid="connect-send">{t('connect.send')}</Button>
              {!token && <Text size="sm" c="dimmed">{t('connect.needToken')}</Text>}
            </Group>
            {answer !== null && <Alert color="teal" title={t('connect.answer')} data-testid="connect-answer">{answer}</Alert>}
            {testError !== null && <Alert color="red" data-testid="connect-error">{readableError(testError, t)}</Alert>}
          </Stack>
        </Card>
      </Stack>
    </>
  );
}
