import { useEffect, useState } from 'react';
import { Badge, Tooltip } from '@mantine/core';
import { useTranslation } from 'react-i18next';
import type { ListedAccount } from '../api/hooks';
import { formatDuration } from '../lib/format';

const COLORS = { healthy: 'teal', cooling_down: 'yellow', needs_attention: 'red', circuit_open: 'orange', disabled: 'gray' } as const;

/** The account's state, with a live countdown while it waits and the reason on hover. On
 * the simulated upstream (`--demo`), which takes any key, a working account is only
 * "simulated": nothing says its key would work on on-demand.io. */
export function StateBadge({ account, simulated = false }: { account: ListedAccount; simulated?: boolean }) {
  const { t, i18n } = useTranslation();
  const [now, setNow] = useState(() => Date.now());
  const until = account.retry_until ?? null;
  const waiting = until !== null;
  useEffect(() => {
    if (!waiting) return;
    const timer = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(timer);
  }, [waiting]);
  const left = until === null ? null : Math.max(0, until - now);
  if (simulated && account.state === 'healthy') {
    return (
      <Tooltip label={t('accounts.simulatedHint')} multiline maw={320}>
        <Badge color="grape" variant="light" tt="none" style={{ flexShrink: 0 }} data-testid="account-state">
          {t('accounts.simulated')}
        </Badge>
      </Tooltip>
    );
  }
  const label = t(`accounts.state.${account.state}`);
  const text = left !== null && account.state !== 'needs_attention' ? `${label} · ${formatDuration(left, i18n.resolvedLanguage ?? 'en')}` : label;
  const badge = (
    <Badge color={COLORS[account.state]} variant="light" tt="none" style={{ flexShrink: 0, overflow: 'visible' }} data-testid="account-state">
      {text}
    </Badge>
  );
  return account.reason ? (
    <Tooltip label={account.reason} multiline maw={360}>
      {badge}
    </Tooltip>
  ) : (
    badge
  );
}
