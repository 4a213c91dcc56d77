// One-click setup of the coding agents (Claude Code, Codex CLI): the proxy writes the agent's
// own config file, after showing the change, and takes it back on Disconnect. In the desktop
// app the apply is also asked natively, which no page can answer.

import { useState } from 'react';
import { Alert, Badge, Box, Button, Card, Group, Modal, Stack, Text, Title } from '@mantine/core';
import { IconPlugConnected } from '@tabler/icons-react';
import { useTranslation } from 'react-i18next';
import { ApiError } from '../api/client';
import { useAgents, useApplyAgent, usePreviewAgent, useUndoAgent } from '../api/hooks';
import type { AgentChange, AgentStatus } from '../api/types';
import { readableError } from '../lib/errors';
import { settle } from '../lib/notify';

/** A unified diff with its added and removed lines coloured. */
function Diff({ text }: { text: string }) {
  const colour = (line: string) =>
    line.startsWith('+++') || line.startsWith('---') ? 'dimmed' : line.startsWith('+') ? 'teal' : line.startsWith('-') ? 'red' : line.startsWith('@@') ? 'blue' : undefined;
  return (
    <Box component="pre" fz="xs" p="xs" m={0} style={{ overflow: 'auto', maxHeight: 320, background: 'var(--mantine-color-default-hover)', borderRadius: 4 }} data-testid="agent-diff">
      {text.split('\n').map((line, i) => (
        <Text key={i} component="div" fz="xs" ff="monospace" c={colour(line)} style={{ whiteSpace: 'pre' }}>{line || ' '}</Text>
      ))}
    </Box>
  );
}

function StateBadge({ agent }: { agent: AgentStatus }) {
  const { t } = useTranslation();
  const [colour, key] = agent.problem ? ['red', 'problem'] : agent.connected ? ['teal', 'connected'] : agent.installed ? ['gray', 'notConnected'] : ['gray', 'notInstalled'];
  return <Badge color={colour} variant="light" style={{ flexShrink: 0 }}>{t(`agents.${key}`)}</Badge>;
}

/** `token`: the client token the page has (the one just made or pasted); `undefined` uses
 * the app's default token. */
export function AgentSetup({ token }: { token?: string }) {
  const { t } = useTranslation();
  const agents = useAgents();
  const preview = usePreviewAgent();
  const apply = useApplyAgent();
  const undo = useUndoAgent();
  const [shown, setShown] = useState<{ agent: AgentStatus; change: AgentChange } | null>(null);
  const [done, setDone] = useState<AgentChange | null>(null);

  const open = async (agent: AgentStatus) => {
    setDone(null);
    apply.reset();
    try {
      setShown({ agent, change: await preview.mutateAsync({ agent: agent.agent, token }) });
    } catch {
      // Shown below the list.
    }
  };
  const confirm = async () => {
    if (!shown) return;
    try {
      setDone(await apply.mutateAsync({ agent: shown.agent.agent, token }));
      setShown(null);
    } catch {
      // Shown in the dialog.
    }
  };
  const declined = apply.error instanceof ApiError && apply.error.code === 'declined';

  return (
    <Card withBorder data-testid="agent-setup">
      <Title order={3} size="h5" mb={4}>{t('agents.title')}</Title>
      <Text size="sm" c="dimmed" mb="sm">{t(token ? 'agents.usesToken' : 'agents.usesDefault')}</Text>
      <Stack gap="sm">
        {(agents.data ?? []).map((agent) => (
          <Group key={agent.agent} justify="space-between" wrap="nowrap" gap="sm" data-testid={`agent-${agent.agent}`}>
            <Box style={{ minWidth: 0 }}>
              <Group gap="xs" wrap="nowrap">
                <Text fw={500}>{agent.name}</Text>
                <StateBadge agent={agent} />
              </Group>
              <Text size="xs" c="dimmed" truncate title={agent.config_file ?? undefined}>{agent.problem ?? agent.config_file}</Text>
            </Box>
            <Group gap="xs" wrap="nowrap">
              {agent.applied && (
                <Button
                  variant="subtle"
                  color="gray"
                  loading={undo.isPending && undo.variables === agent.agent}
                  onClick={() => settle(undo.mutateAsync(agent.agent).then(() => setDone(null)), t, t('agents.disconnected', { name: agent.name }))}
                  data-testid={`agent-undo-${agent.agent}`}
                >
                  {t('agents.disconnect')}
                </Button>
              )}
              <Button
                variant={agent.connected ? 'default' : 'filled'}
                leftSection={<IconPlugConnected size={16} />}
                loading={preview.isPending && preview.variables?.agent === agent.agent}
                disabled={!agent.config_file}
                onClick={() => open(agent)}
                data-testid={`agent-connect-${agent.agent}`}
              >
                {t(agent.connected ? 'agents.reconnect' : 'agents.connect')}
              </Button>
            </Group>
          </Group>
        ))}
        {preview.error && <Alert color="red" data-testid="agent-error">{readableError(preview.error, t)}</Alert>}
        {done && (
          <Alert color="teal" title={t('agents.done', { name: agents.data?.find((a) => a.agent === done.agent)?.name ?? done.agent })} data-testid="agent-done">
            {t(done.agent === 'codex' ? 'agents.doneCodex' : 'agents.doneClaude', { model: done.model ?? '—' })}
          </Alert>
        )}
      </Stack>
      <Modal opened={shown !== null} onClose={() => setShown(null)} size="lg" title={shown && t('agents.previewTitle', { name: shown.agent.name })}>
        {shown && (
          <Stack gap="sm">
            <Text size="sm">{t('agents.previewIntro', { file: shown.change.config_file })}</Text>
            {shown.change.diff ? <Diff text={shown.change.diff} /> : <Text size="sm" c="dimmed">{t('agents.nothingToChange')}</Text>}
            <Text size="xs" c="dimmed">{t(shown.change.backup ? 'agents.backup' : 'agents.noBackup', { file: shown.change.backup })}</Text>
            {apply.error && <Alert color={declined ? 'yellow' : 'red'} data-testid="agent-apply-error">{declined ? t('agents.declined') : readableError(apply.error, t)}</Alert>}
            <Group justify="flex-end">
              <Button variant="default" onClick={() => setShown(null)}>{t('common.cancel')}</Button>
              <Button onClick={confirm} loading={apply.isPending} disabled={!shown.change.diff} data-testid="agent-apply">{t('agents.apply')}</Button>
            </Group>
          </Stack>
        )}
      </Modal>
    </Card>
  );
}
