// How each setting is edited and grouped. Labels and explanations live in the translations
// (`settings.keys.<key>.label` / `.help`).

export type SettingKind = 'integer' | 'seconds' | 'boolean' | 'text' | { choices: string[] };

export const SETTING_GROUPS: { key: string; settings: [string, SettingKind][] }[] = [
  {
    key: 'conversations',
    settings: [
      ['session_mode', { choices: ['stateless', 'reuse'] }],
      ['session_timeout_minutes', 'integer'],
      ['session_cache_size', 'integer'],
      ['delete_sessions', 'boolean'],
    ],
  },
  {
    key: 'retries',
    settings: [
      ['max_retries', 'integer'],
      ['retry_delay', 'seconds'],
      ['request_timeout', 'seconds'],
      ['stream_timeout', 'seconds'],
      ['stream_idle_timeout', 'seconds'],
      ['stream_keepalive', 'seconds'],
      ['no_account_wait', 'seconds'],
    ],
  },
  {
    key: 'limits',
    settings: [
      ['rate_limit', 'integer'],
      ['max_concurrent_upstream', 'integer'],
      ['max_body_bytes', 'integer'],
      ['forward_max_tokens', 'boolean'],
    ],
  },
  {
    key: 'pool',
    settings: [
      ['pool_strategy', { choices: ['round_robin', 'least_in_flight', 'weighted'] }],
      ['cooldown_seconds', 'seconds'],
      ['cooldown_max_seconds', 'seconds'],
      ['circuit_failures', 'integer'],
      ['circuit_open_seconds', 'seconds'],
      ['recheck_seconds', 'seconds'],
      ['recheck_max_seconds', 'seconds'],
    ],
  },
  {
    key: 'usage',
    settings: [
      ['record_usage', 'boolean'],
      ['usage_retention_days', 'integer'],
    ],
  },
  {
    key: 'upstream',
    settings: [
      ['base_url', 'text'],
      ['auth_base_url', 'text'],
      ['client_base_url', 'text'],
      ['user_agent', 'text'],
      ['debug_mode', 'boolean'],
    ],
  },
];

export const KNOWN_SETTINGS = new Set(SETTING_GROUPS.flatMap((g) => g.settings.map(([k]) => k)));

/** The keys whose draft differs from the stored value, with the values to send. */
export function changedSettings(values: Record<string, unknown>, draft: Record<string, unknown>): Record<string, unknown> {
  const changes: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(draft)) {
    if (value === '' || value === undefined) continue;
    if (JSON.stringify(value) !== JSON.stringify(values[key])) changes[key] = value;
  }
  return changes;
}
