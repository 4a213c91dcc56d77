// The desktop shell's own commands (Tauri IPC), for what only the app has: its port and
// address, the login item, window behaviour, and the language and theme it shares with the
// tray. In a browser none of this exists and `inShell()` is false.

import { connection } from './client';

export type Theme = 'auto' | 'light' | 'dark';

export interface DesktopPrefs {
  port: number;
  /** `127.0.0.1` (this computer only) or `0.0.0.0` (every network interface). */
  host: string;
  close_to_tray: boolean;
  start_minimised: boolean;
  /** `null` follows the system. */
  language: string | null;
  theme: Theme;
  /** `null` where the login item cannot be read. */
  launch_at_login: boolean | null;
  data_dir: string | null;
}

/** What the page may change. Listening on every interface and launching at login are
 * then confirmed by the app in a native dialog, which the page cannot answer; a no comes
 * back as the error code `declined`, with nothing changed. */
export type PrefsChanges = Partial<Omit<DesktopPrefs, 'data_dir'>>;

/** A refused command: a code, the field at fault, a message; for a taken port, a free one. */
export interface ShellCommandError {
  code: string;
  field?: string | null;
  message: string;
  suggestion?: number | null;
}

export function inShell(): boolean {
  return Boolean(window.__TAURI__ && connection().shell);
}

function invoke<T>(command: string, args?: Record<string, unknown>): Promise<T> {
  const tauri = window.__TAURI__;
  if (!tauri) return Promise.reject({ code: 'no_shell', message: 'Only in the desktop app.' } satisfies ShellCommandError);
  return tauri.core.invoke<T>(command, args);
}

export const getPreferences = () => invoke<DesktopPrefs>('get_preferences');

/** In the desktop app: the app's own admin credential (random per run, never throttled, not
 * the admin password), asked for over IPC (the shell never puts it in a page, where any page
 * the window loaded could read it), kept in memory for API calls. */
export async function loadShellCredential(): Promise<void> {
  const odp = window.__ODP__;
  // No server running (a port problem): nothing to sign in to.
  if (!odp?.shell || odp.shellError || !window.__TAURI__) return;
  try {
    const password = await invoke<unknown>('admin_credential');
    if (typeof password === 'string' && password) odp.adminPassword = password;
  } catch {
    // Without it the sign-in page shows, as in a browser.
  }
}

export const setPreferences = (changes: PrefsChanges) => invoke<DesktopPrefs>('set_preferences', { changes });

/** Starts the server on `port` (from the port-problem screen) and remembers it; the window
 * reopens on it. A port that cannot be had is refused with `port_unavailable`. */
export const switchToPort = (port: number) => setPreferences({ port });

/** The app's `default` client token (the tray's *Copy client token*), for Connect to reveal. */
export const appClientToken = () => invoke<string | null>('client_token');

/** Remembers a language or theme the person picked in the desktop preferences too, so the
 * tray speaks it and the next start uses it. Outside the app, nothing to do. */
export function rememberInShell(changes: Pick<PrefsChanges, 'language' | 'theme'>): void {
  if (inShell()) void setPreferences(changes).catch(() => undefined);
}

/** A command's rejection as a `ShellCommandError`, whatever was thrown. */
export function shellError(error: unknown): ShellCommandError {
  if (error && typeof error === 'object' && typeof (error as ShellCommandError).message === 'string') {
    return error as ShellCommandError;
  }
  return { code: 'unknown', message: String(error) };
}

/** Before the UI starts: the language and theme the app remembers win over the webview's
 * own storage (the keys i18next and Mantine read). */
export function seedFromShell(): void {
  const { language, theme } = connection();
  try {
    if (language) localStorage.setItem('odp.language', language);
    if (theme) localStorage.setItem('mantine-color-scheme-value', theme);
  } catch {
    // Storage may be unavailable; the defaults then apply.
  }
}
