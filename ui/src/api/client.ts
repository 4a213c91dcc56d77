// The one way the UI talks to the proxy: JSON over fetch, errors as `ApiError`.
//
// Headless, the UI is served by the proxy and signs in with a cookie session (same origin).
// In the desktop window the shell hands over the server's address (`window.__ODP__`); the
// admin password is asked for over IPC before the UI starts (`loadShellCredential`) and sent
// as a bearer credential.

export interface Connection {
  /** The proxy's origin, e.g. `http://127.0.0.1:8787`; empty for the page's own origin. */
  baseUrl: string;
  /** The admin password, when the desktop shell gave it over IPC (no sign-in then). */
  adminPassword?: string;
  /** Set in the desktop window. */
  shell?: boolean;
  /** The desktop shell could not start the server: why, and the port it offers instead. */
  shellError?: ShellError;
  /** The desktop app's remembered language (`null`: the system's) and theme. */
  language?: string | null;
  theme?: 'auto' | 'light' | 'dark';
}

export interface ShellError {
  state: 'failed' | 'stopped';
  port?: number;
  reason?: 'in_use' | 'not_allowed' | 'other';
  message?: string;
  suggestion?: number | null;
}

declare global {
  interface Window {
    __ODP__?: Connection;
    /** Tauri's IPC, in the desktop window only (`withGlobalTauri`). */
    __TAURI__?: { core: { invoke: <T>(command: string, args?: Record<string, unknown>) => Promise<T> } };
  }
}

export function connection(): Connection {
  return window.__ODP__ ?? { baseUrl: '' };
}

/** Whether the shell signs the UI in (no login page, no logout). */
export function shellManaged(): boolean {
  return Boolean(connection().adminPassword);
}

/** An error answer from the API, or a failure to reach it (`status` 0). */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string | null;
  /** The request field at fault, for an inline error. */
  readonly param: string | null;

  constructor(status: number, message: string, code: string | null = null, param: string | null = null) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.param = param;
  }

  get unauthorized(): boolean {
    return this.status === 401;
  }
}

/** Turns an error answer's body into an `ApiError`, whatever shape it has. */
export function errorFrom(status: number, body: unknown): ApiError {
  const error = (body as { error?: { message?: unknown; code?: unknown; param?: unknown } } | null)?.error;
  if (error && typeof error.message === 'string') {
    return new ApiError(
      status,
      error.message,
      typeof error.code === 'string' ? error.code : null,
      typeof error.param === 'string' ? error.param : null,
    );
  }
  return new ApiError(status, `HTTP ${status}`);
}

export function headers(json: boolean): HeadersInit {
  const h: Record<string, string> = {};
  const password = connection().adminPassword;
  if (password) h.Authorization = `Bearer ${password}`;
  if (json) h['Content-Type'] = 'application/json';
  return h;
}

export function url(path: string, query?: Record<string, string | number | boolean | null | undefined>): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query ?? {})) {
    if (v !== undefined && v !== null && v !== '') params.set(k, String(v));
  }
  const qs = params.toString();
  return `${connection().baseUrl}${path}${qs ? `?${qs}` : ''}`;
}

export interface RequestOptions {
  method?: string;
  body?: unknown;
  query?: Record<string, string | number | boolean | null | undefined>;
  signal?: AbortSignal;
}

function parseJson(text: string): unknown {
  try {
    return text ? JSON.parse(text) : null;
  } catch {
    return null;
  }
}

export async function api<T>(path: string, options: RequestOptions = {}): Promise<T> {
  let response: Response;
  try {
    response = await fetch(url(path, options.query), {
      method: options.method ?? 'GET',
      headers: headers(options.body !== undefined),
      body: options.body !== undefined ? JSON.stringify(options.body) : undefined,
      credentials: 'same-origin',
      signal: options.signal,
    });
  } catch (e) {
    if ((e as Error).name === 'AbortError') throw e;
    throw new ApiError(0, 'network');
  }
  if (response.status === 204) return undefined as T;
  const body = parseJson(await response.text());
  if (!response.ok) throw errorFrom(response.status, body);
  return body as T;
}
