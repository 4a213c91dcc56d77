// The admin API's shapes (see /api/openapi.json).

export type Source = 'api' | 'config';
export type AccountState = 'healthy' | 'cooling_down' | 'needs_attention' | 'circuit_open' | 'disabled';

export interface Account {
  id: number;
  name: string;
  kind: 'api_key' | 'email_password';
  email: string | null;
  secret_hint: string;
  weight: number;
  max_concurrent: number | null;
  enabled: boolean;
  source: Source;
  state: AccountState;
  reason: string | null;
  retry_in_s: number | null;
  /** Unix ms when `retry_in_s` runs out (set by the UI when the list arrives). */
  retry_until?: number | null;
  in_flight: number;
  /** Models refused to this account (a plan or premium refusal); it serves the others. */
  model_blocks: { endpoint_id: string; reason: string; retry_in_s: number }[];
  created_at: number;
  updated_at: number;
}

export interface AccountTest {
  ok: boolean;
  latency_ms: number;
  answer?: string;
  error?: { message: string; status: number | null; code: string | null };
}

export interface TokenLimits {
  expires_at: number | null;
  quota_requests: number | null;
  quota_tokens: number | null;
  models: string[] | null;
  rpm: number | null;
}

export interface Token extends TokenLimits {
  id: number;
  name: string;
  prefix: string;
  enabled: boolean;
  source: Source;
  used_requests: number;
  used_tokens: number;
  last_used_at: number | null;
  created_at: number;
  updated_at: number;
}

export interface NewToken extends Token {
  secret: string;
}

export interface Alias {
  alias: string;
  endpoint_id: string;
  source: 'builtin' | 'custom';
  overrides_builtin: boolean;
  /** Whether the live catalogue lists the target as active; null while none is known. */
  target_available: boolean | null;
}

/** A problem every account meets alike: the upstream's firewall, or a wrong base URL. */
export interface UpstreamProblem {
  kind: 'firewall' | 'route';
  message: string;
  since_ms: number;
  last_ms: number;
}

export interface Proxy {
  paused: boolean;
  upstream_problem?: UpstreamProblem | null;
  session_cleanup?: { enabled: boolean; stats: { deleted: number; failed: number; dropped: number } };
}

export interface Endpoint {
  id: string;
  clean_id: string | null;
  name: string | null;
  model_id: string | null;
  active: boolean;
  /** Active and listed by some account now. */
  available: boolean;
  premium: boolean;
  reasoning_efforts: string[];
  context_length: number | null;
  streaming: boolean;
  last_seen_ms: number;
  accounts: string[];
}

export interface CatalogueRead {
  account: string;
  ok_at: number | null;
  error: string | null;
  error_at: number | null;
  endpoints: number;
}

export interface Catalogue {
  known: boolean;
  refresh_every_s: number;
  reads: CatalogueRead[];
  endpoints: Endpoint[];
}

/** Text in each language the dashboard offers. */
export interface Words {
  en: string;
  'zh-CN': string;
}

export type SettingGroup = 'conversations' | 'retries' | 'limits' | 'pool' | 'usage' | 'upstream';

/** One setting as the proxy declares it (config::SETTINGS): the page is drawn from this. */
export interface Setting {
  key: string;
  value: unknown;
  default: unknown;
  source: 'default' | 'dashboard' | 'config_file' | 'environment' | 'flag';
  editable: boolean;
  locked_reason: string | null;
  env: string;
  flag: string;
  kind: 'integer' | 'seconds' | 'boolean' | 'text' | 'choice';
  choices: { value: string; label: Words }[];
  min: number | null;
  max: number | null;
  group: SettingGroup;
  live: boolean;
  label: Words;
  help: Words;
}

export interface Overview {
  from: number;
  to: number;
  requests: number;
  successes: number;
  success_rate: number | null;
  input_tokens: number;
  output_tokens: number;
  estimated_tokens: number;
  latency_ms_avg: number;
  latency_ms_p50: number | null;
  latency_ms_p95: number | null;
  ttft_ms_p50: number | null;
  ttft_ms_p95: number | null;
  accounts: { total: number; healthy: number };
  upstream_problem?: UpstreamProblem | null;
}

export interface Bucket {
  start: number;
  requests: number;
  successes: number;
  input_tokens: number;
  output_tokens: number;
}

export interface Share {
  key: string;
  requests: number;
  successes: number;
  input_tokens: number;
  output_tokens: number;
}

export interface FailedAttempt {
  account: string;
  status: number | null;
  code: string | null;
  message: string;
}

export interface RequestRow {
  id?: number;
  ts: number;
  client_token: string;
  account: string | null;
  model: string;
  endpoint_id: string | null;
  stream: boolean;
  status: number;
  error_class: string | null;
  attempts: number;
  latency_ms: number;
  ttft_ms: number | null;
  input_tokens: number;
  output_tokens: number;
  tokens_estimated: boolean;
  session_reused: boolean;
  failed_attempts: FailedAttempt[];
  /** What the proxy changed to suit the endpoint, one note per line. */
  notes?: string | null;
}

export interface RequestPage {
  data: RequestRow[];
  next_before: number | null;
}

export interface Tick {
  ts: number;
  totals: { requests: number; errors: number; input_tokens: number; output_tokens: number };
  per_second: { requests: number; errors: number; input_tokens: number; output_tokens: number };
  in_flight: number;
  accounts: { total: number; healthy: number };
  /** `/v1/*` is paused (503 to clients). */
  paused?: boolean;
  upstream_problem?: UpstreamProblem | null;
}

export interface ImportOutcome {
  added: string[];
  replaced: string[];
  skipped: { name: string; reason: string }[];
}

export interface ImportReport {
  accounts: ImportOutcome;
  tokens: ImportOutcome;
  aliases: ImportOutcome;
  new_token_secrets: { name: string; secret: string }[];
}
