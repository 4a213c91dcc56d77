// Errors as people read them: the API's own message (written for people), or a translated
// one for failures that have no message of their own.

import type { TFunction } from 'i18next';
import { ApiError } from '../api/client';

export type Translate = TFunction;

export function readableError(error: unknown, t: Translate): string {
  if (error instanceof ApiError) {
    if (error.status === 0) return t('errors.network');
    if (error.status === 401) return t('errors.unauthorized');
    if (error.code === 'managed_by_config') return t('errors.managedByConfig');
    if (error.status >= 500) return t('errors.server', { message: error.message });
    return error.message;
  }
  if (error instanceof Error) return error.message;
  return t('errors.unknown');
}

/** An error from a request made with a client token (Connect's *Test*): a 401 there is the
 * token refused, not the dashboard's session ended. */
export function readableClientError(error: unknown, t: Translate): string {
  if (error instanceof ApiError && error.status === 401) return t('connect.tokenRefused', { message: error.message });
  return readableError(error, t);
}

/** The inline error for `field` of a form, when the API named that field. */
export function fieldError(error: unknown, field: string, t: Translate): string | undefined {
  if (!(error instanceof ApiError) || !error.param) return undefined;
  const param = error.param.replace(/\[\d+\]$/, '');
  return param === field ? readableError(error, t) : undefined;
}

/** Whether an error belongs to no field of the form (shown above it instead). */
export function formLevelError(error: unknown, fields: string[], t: Translate): string | undefined {
  if (!error) return undefined;
  if (error instanceof ApiError && error.param) {
    const param = error.param.replace(/\[\d+\]$/, '');
    if (fields.includes(param)) return undefined;
  }
  return readableError(error, t);
}
