// Small pieces every page uses: headers, readable errors, empty states, confirmations, lists.

import type { ReactNode } from 'react';
import { Alert, Badge, Button, Card, Group, Modal, Stack, Table, Text, Title } from '@mantine/core';
import { IconAlertCircle, IconInbox } from '@tabler/icons-react';
import { useTranslation } from 'react-i18next';
import { readableError } from '../lib/errors';

export function PageHeader({ title, description, actions }: { title: string; description?: string; actions?: ReactNode }) {
  return (
    <Group justify="space-between" align="flex-start" mb="md" wrap="wrap">
      <div>
        <Title order={2} size="h3">
          {title}
        </Title>
        {description && (
          <Text c="dimmed" size="sm" maw={640}>
            {description}
          </Text>
        )}
      </div>
      {actions && <Group gap="xs">{actions}</Group>}
    </Group>
  );
}

export function ErrorAlert({ error }: { error: unknown }) {
  const { t } = useTranslation();
  if (!error) return null;
  return (
    <Alert color="red" icon={<IconAlertCircle size={18} />} mb="md" role="alert" data-testid="error-alert">
      {readableError(error, t)}
    </Alert>
  );
}

export function Empty({ title, children }: { title: string; children?: ReactNode }) {
  return (
    <Card withBorder padding="xl" data-testid="empty-state">
      <Stack align="center" gap="xs">
        <IconInbox size={32} stroke={1.4} />
        <Text fw={600}>{title}</Text>
        {children}
      </Stack>
    </Card>
  );
}

export function SourceBadge({ source }: { source: 'api' | 'config' }) {
  const { t } = useTranslation();
  return source === 'config' ? (
    <Badge variant="outline" color="gray" size="xs" tt="none" style={{ flexShrink: 0, overflow: 'visible' }} title={t('common.configManagedHint')}>
      {t('common.configManaged')}
    </Badge>
  ) : null;
}

export function Confirm({
  opened, title, message, confirmLabel, onConfirm, onCancel, loading,
}: {
  opened: boolean;
  title: string;
  message: ReactNode;
  confirmLabel: string;
  onConfirm: () => void;
  onCancel: () => void;
  loading?: boolean;
}) {
  const { t } = useTranslation();
  return (
    <Modal opened={opened} onClose={onCancel} title={title} centered closeButtonProps={{ 'aria-label': t('common.close') }}>
      <Stack>
        <Text size="sm">{message}</Text>
        <Group justify="flex-end">
          <Button variant="default" onClick={onCancel}>
            {t('common.cancel')}
          </Button>
          <Button color="red" onClick={onConfirm} loading={loading} data-testid="confirm">
            {confirmLabel}
          </Button>
        </Group>
      </Stack>
    </Modal>
  );
}

/** A dialog holding one form: its fields, an error that belongs to none of them, and the
 * cancel / submit buttons. Enter submits. */
export function FormModal({
  title, onClose, onSubmit, children, formError, submitLabel, loading, testId,
}: {
  title: string;
  onClose: () => void;
  onSubmit: () => void;
  children: ReactNode;
  formError?: string;
  submitLabel: string;
  loading: boolean;
  testId: string;
}) {
  const { t } = useTranslation();
  return (
    <Modal opened onClose={onClose} title={title} centered closeButtonProps={{ 'aria-label': t('common.close') }}>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          onSubmit();
        }}
        data-testid={testId}
      >
        <Stack>
          {children}
          {formError && <Alert color="red">{formError}</Alert>}
          <Group justify="flex-end">
            <Button variant="default" onClick={onClose}>
              {t('common.cancel')}
            </Button>
            <Button type="submit" loading={loading} data-testid={`${testId.replace(/-form$/, '')}-save`}>
              {submitLabel}
            </Button>
          </Group>
        </Stack>
      </form>
    </Modal>
  );
}

/** A list of entries as a table that scrolls sideways rather than squeeze: the shape the
 * accounts, tokens, aliases and catalogue share. `headers` are the column titles ('' for an
 * untitled one, such as the actions). Under about 1000 px (a small window), the columns
 * `compact.hide` names (0-based) give way, so that what matters most (the name, the state,
 * the switch and the actions) stays on screen, and the table needs `compact.minWidth`. */
export function ListTable({
  headers, minWidth, testId, verticalSpacing = 'xs', compact, children,
}: {
  headers: string[];
  minWidth: number;
  testId: string;
  verticalSpacing?: 'xs' | number;
  compact?: { hide: number[]; minWidth: number };
  children: ReactNode;
}) {
  const table = `[data-testid="${testId}"]`;
  const compactCss = compact && `@media (max-width: 62em) {
  ${compact.hide.map((i) => `${table} tr > :nth-child(${i + 1})`).join(', ')} { display: none; }
  :has(> ${table}), ${table} { min-width: ${compact.minWidth}px !important; }
}`;
  return (
    <>
      {compactCss && <style>{compactCss}</style>}
      {/* A table wider than the window scrolls sideways; the keyboard can too (it takes focus). */}
      <Table.ScrollContainer minWidth={minWidth} scrollAreaProps={{ viewportProps: { tabIndex: 0 } }}>
        <Table highlightOnHover verticalSpacing={verticalSpacing} fz="sm" data-testid={testId}>
          <Table.Thead>
            <Table.Tr>
              {headers.map((h, i) => (
                <Table.Th key={`${i}-${h}`} style={{ whiteSpace: 'nowrap' }}>{h}</Table.Th>
              ))}
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>{children}</Table.Tbody>
        </Table>
      </Table.ScrollContainer>
    </>
  );
}
