import { useState } from 'react';
import {
  ActionIcon, Alert, Button, Card, Code, CopyButton, Group, List, PasswordInput, SegmentedControl, Select, Stack, Tabs,
  Text, TextInput, Textarea, Title, Tooltip,
} from '@mantine/core';
import { IconCheck, IconCopy } from '@tabler/icons-react';
import type { TFunction } from 'i18next';
import { useTranslation } from 'react-i18next';
import { ApiError, connection, errorFrom } from '../api/client';
import { useAliases, useCreateToken } from '../api/hooks';
import { appClientToken, inShell } from '../api/shell';
import { AgentSetup } from '../components/AgentSetup';
import { PageHeader } from '../components/common';
import { fieldError, readableClientError, readableError } from '../lib/errors';
import { keepToken, useKeptToken } from '../lib/kept';
import {
  type Dialect, type SnippetInput, type SnippetKey, anthropicBaseUrl, openaiBaseUrl, snippets, testRequest,
} from '../lib/snippets';

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

function Snippet({ code }: { code: string }) {
  return (
    <Group align="flex-start" wrap="nowrap" gap="xs">
      <Code block style={{ flex: 1 }}>{code}</Code>
      <Copy value={code} />
    </Group>
  );
}

/** A variant of a client's setup: how it is shown, and the dialect its test speaks. */
interface Variant {
  label: string;
  dialect: Dialect;
  body: React.ReactNode;
}

/** The clients, each with its variants (an SDK for OpenAI and one for Anthropic, …). */
function clients(t: TFunction, input: SnippetInput): { id: string; name: string; variants: Variant[] }[] {
  const code = snippets(input, { optionalModel: t('connect.notes.optionalModel'), thenInShell: t('connect.notes.thenInShell') });
  const snippet = (key: SnippetKey) => <Snippet code={code[key]} />;
  const steps = (prefix: string, count: number, values: Record<string, unknown> = {}) => (
    <List type="ordered" size="sm" spacing={4}>
      {Array.from({ length: count }, (_, i) => (
        <List.Item key={i}>{t(`${prefix}.${i + 1}`, values)}</List.Item>
      ))}
    </List>
  );
  const origin = anthropicBaseUrl(input.baseUrl);
  return [
    {
      id: 'claude',
      name: 'Claude Code',
      variants: [{ label: 'Anthropic Messages', dialect: 'messages', body: <>{snippet('claude')}<Text size="sm" c="dimmed" mt="xs">{t('connect.claudeHint')}</Text></> }],
    },
    {
      id: 'codex',
      name: 'Codex CLI',
      variants: [{ label: 'OpenAI Responses', dialect: 'responses', body: <>{snippet('codex')}<Text size="sm" c="dimmed" mt="xs">{t('connect.codexHint')}</Text></> }],
    },
    {
      id: 'cherry',
      name: 'Cherry Studio',
      variants: [
        { label: 'OpenAI', dialect: 'chat', body: steps('connect.cherry', 5, { url: origin }) },
        { label: 'Anthropic', dialect: 'messages', body: steps('connect.cherryAnthropic', 4, { url: origin }) },
      ],
    },
    {
      id: 'cline',
      name: 'Cline / Roo Code',
      variants: [{ label: 'OpenAI Compatible', dialect: 'chat', body: steps('connect.cline', 4, { url: input.baseUrl, model: input.model }) }],
    },
    {
      id: 'python',
      name: 'Python',
      variants: [
        { label: 'openai', dialect: 'chat', body: snippet('pythonOpenai') },
        { label: 'anthropic', dialect: 'messages', body: snippet('pythonAnthropic') },
      ],
    },
    {
      id: 'node',
      name: 'Node.js',
      variants: [
        { label: 'openai', dialect: 'chat', body: snippet('nodeOpenai') },
        { label: '@anthropic-ai/sdk', dialect: 'messages', body: snippet('nodeAnthropic') },
      ],
    },
    {
      id: 'curl',
      name: 'curl',
      variants: [
        { label: 'Chat Completions', dialect: 'chat', body: snippet('curlChat') },
        { label: 'Messages', dialect: 'messages', body: snippet('curlMessages') },
        { label: 'Responses', dialect: 'responses', body: snippet('curlResponses') },
      ],
    },
  ];
}

type Outcome = { answer: string } | { error: unknown };

export function Connect() {
  const { t } = useTranslation();
  const baseUrl = openaiBaseUrl(connection().baseUrl || window.location.origin);
  const aliases = useAliases();
  const create = useCreateToken();
  const kept = useKeptToken();
  const [token, setToken] = useState(kept?.secret ?? '');
  const [appToken, setAppToken] = useState<string | null>(null);
  const [name, setName] = useState('');
  const [model, setModel] = useState<string | null>('gpt-4o');
  // The example message follows the language until it is edited.
  const [edited, setMessage] = useState<string | null>(null);
  const message = edited ?? t('connect.testMessage');
  const [tab, setTab] = useState<string | null>('claude');
  const [variant, setVariant] = useState<Record<string, string>>({});
  const [outcome, setOutcome] = useState<Outcome | null>(null);
  const [sending, setSending] = useState(false);
  const input: SnippetInput = { baseUrl, token: token || 'sk-odp-…', model: model ?? 'gpt-4o' };
  const list = clients(t, input);

  const newToken = async () => {
    try {
      const created = await create.mutateAsync({ name });
      keepToken({ name: created.name, secret: created.secret });
      setToken(created.secret);
    } catch {
      // Shown inline.
    }
  };
  const send = async (dialect: Dialect) => {
    setSending(true);
    setOutcome(null);
    const request = testRequest(dialect, { ...input, token }, message);
    try {
      const response = await fetch(request.url, request.init);
      const body = await response.json().catch(() => null);
      if (!response.ok) throw errorFrom(response.status, body);
      setOutcome({ answer: request.answer(body) });
    } catch (e) {
      setOutcome({ error: e instanceof ApiError ? e : new ApiError(0, 'network') });
    } finally {
      setSending(false);
    }
  };

  return (
    <>
      <PageHeader title={t('connect.title')} description={t('connect.description')} />
      <Stack>
        <AgentSetup token={token || undefined} />
        <Card withBorder>
          <Title order={3} size="h5" mb="xs">{t('connect.baseUrl')}</Title>
          <Group gap="xs">
            <Code fz="md" data-testid="base-url">{baseUrl}</Code>
            <Copy value={baseUrl} />
          </Group>
          <Text size="sm" c="dimmed" mt="xs">{t('connect.anthropicBaseUrl', { url: anthropicBaseUrl(baseUrl) })}</Text>
        </Card>
        <Card withBorder>
          <Title order={3} size="h5" mb="xs">{t('connect.token')}</Title>
          <Text size="sm" c="dimmed" mb="xs">{t('connect.tokenHint')}</Text>
          <Group align="flex-end" gap="xs" mb="xs">
            <TextInput label={t('connect.tokenName')} value={name} onChange={(e) => setName(e.currentTarget.value)} error={fieldError(create.error, 'name', t) ?? (create.error && !(create.error instanceof ApiError && create.error.param) ? readableError(create.error, t) : undefined)} w={240} data-testid="connect-token-name" />
            <Button onClick={newToken} loading={create.isPending} data-testid="connect-create-token">{t('connect.createToken')}</Button>
          </Group>
          <PasswordInput label={t('connect.useToken')} value={token} onChange={(e) => setToken(e.currentTarget.value.trim())} data-testid="connect-token" />
          <Group gap="xs" mt={4}>
            <Text size="xs" c="dimmed" data-testid="connect-token-which">
              {!token
                ? t('connect.which.none')
                : token === kept?.secret
                  ? t('connect.which.kept', { name: kept.name })
                  : token === appToken
                    ? t('connect.which.default')
                    : t('connect.which.pasted')}
            </Text>
            {inShell() ? (
              token !== appToken && (
                <Button
                  size="compact-xs"
                  variant="subtle"
                  onClick={() => appClientToken().then((value) => { if (value) { setAppToken(value); setToken(value); } }, () => undefined)}
                  data-testid="connect-use-default"
                >
                  {t('connect.useDefault')}
                </Button>
              )
            ) : (
              !token && <Text size="xs" c="dimmed">{t('connect.defaultHeadless')}</Text>
            )}
          </Group>
          {create.data && token === create.data.secret && <Alert color="yellow" mt="xs" p="xs">{t('connect.keptWarning')}</Alert>}
          <Group mt="xs" align="flex-end">
            <Select label={t('connect.model')} data={(aliases.data ?? []).map((a) => a.alias)} value={model} onChange={setModel} searchable w={240} allowDeselect={false} />
            <Textarea label={t('connect.message')} value={message} onChange={(e) => setMessage(e.currentTarget.value)} autosize minRows={1} style={{ flex: 1 }} />
          </Group>
        </Card>
        <Card withBorder>
          <Title order={3} size="h5" mb="xs">{t('connect.setup')}</Title>
          <Tabs value={tab} onChange={(v) => { setTab(v); setOutcome(null); }}>
            <Tabs.List>
              {list.map((c) => (
                <Tabs.Tab key={c.id} value={c.id} data-testid={`connect-tab-${c.id}`}>{c.name}</Tabs.Tab>
              ))}
            </Tabs.List>
            {list.map((c) => {
              const chosen = c.variants.find((v) => v.label === variant[c.id]) ?? c.variants[0];
              return (
                <Tabs.Panel value={c.id} pt="sm" key={c.id}>
                  <Stack gap="sm">
                    {c.variants.length > 1 && (
                      <SegmentedControl
                        size="xs"
                        w="fit-content"
                        data={c.variants.map((v) => v.label)}
                        value={chosen.label}
                        onChange={(v) => { setVariant({ ...variant, [c.id]: v }); setOutcome(null); }}
                      />
                    )}
                    {chosen.body}
                    <Group>
                      <Button
                        variant="light"
                        onClick={() => send(chosen.dialect)}
                        loading={sending}
                        disabled={!token || !message.trim()}
                        data-testid={`connect-test-${c.id}`}
                      >
                        {t('connect.testIn', { dialect: t(`dialects.${chosen.dialect}`) })}
                      </Button>
                      {!token && <Text size="sm" c="dimmed">{t('connect.needToken')}</Text>}
                    </Group>
                    {tab === c.id && outcome && 'answer' in outcome && (
                      <Alert color="teal" title={t('connect.answer')} data-testid="connect-answer">{outcome.answer}</Alert>
                    )}
                    {tab === c.id && outcome && 'error' in outcome && (
                      <Alert color="red" data-testid="connect-error">{readableClientError(outcome.error, t)}</Alert>
                    )}
                  </Stack>
                </Tabs.Panel>
              );
            })}
          </Tabs>
        </Card>
        <Alert color="blue" title={t('connect.imagesTitle')} data-testid="connect-images">
          {t('connect.images')}
        </Alert>
      </Stack>
    </>
  );
}
