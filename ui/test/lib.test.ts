import { describe, expect, it } from 'vitest';
import { ApiError, errorFrom } from '../src/api/client';
import { fieldError, formLevelError, readableError } from '../src/lib/errors';
import { formatBytes, formatCompact, formatDuration, formatNumber, formatPercent } from '../src/lib/format';
import { rangeBounds, startOfDay, tzOffsetMinutes } from '../src/lib/range';
import { toSeries, topShares } from '../src/lib/series';
import { changedSettings, groupSettings, inLanguage } from '../src/lib/settings';
import type { Setting } from '../src/api/types';
import { edited, moved } from '../src/lib/patterns';
import { anthropicBaseUrl, openaiBaseUrl, snippets, testRequest } from '../src/lib/snippets';
import type { TFunction } from 'i18next';

const t = ((key: string, options?: Record<string, unknown>) => (options ? `${key}:${JSON.stringify(options)}` : key)) as unknown as TFunction;

describe('format', () => {
  it('formats per locale', () => {
    expect(formatNumber(1234567, 'en')).toBe('1,234,567');
    expect(formatCompact(1_250_000, 'en')).toBe('1.3M');
    expect(formatCompact(1_250_000, 'zh-CN')).toBe('125万');
    expect(formatPercent(0.987, 'en')).toBe('98.7%');
    expect(formatNumber(null, 'en')).toBe('—');
  });
  it('formats durations for people', () => {
    expect(formatDuration(820, 'en')).toBe('820 ms');
    expect(formatDuration(1400, 'en')).toBe('1.4 sec');
    expect(formatBytes(16, 'en')).toBe('16 B');
    expect(formatBytes(2400, 'zh-CN')).toBe('2.4 kB');
    expect(formatDuration(125_000, 'en')).toBe('2 min 5 sec');
    expect(formatDuration(null, 'en')).toBe('—');
  });
});

describe('ranges', () => {
  it('starts today at local midnight and counts whole local days back', () => {
    const now = new Date(2026, 10, 26, 15, 30).getTime();
    expect(rangeBounds('today', now)).toEqual({ from: new Date(2026, 10, 26).getTime(), to: now });
    expect(rangeBounds('7d', now).from).toBe(new Date(2026, 10, 20).getTime());
    expect(rangeBounds('30d', now).from).toBe(new Date(2026, 9, 28).getTime());
    expect(startOfDay(now)).toBe(new Date(2026, 10, 26).getTime());
    expect(tzOffsetMinutes(now)).toBe(-new Date(now).getTimezoneOffset());
  });
});

describe('series', () => {
  it('derives errors and keeps bucket order', () => {
    const s = toSeries([
      { start: 1, requests: 5, successes: 4, input_tokens: 10, output_tokens: 2 },
      { start: 2, requests: 0, successes: 0, input_tokens: 0, output_tokens: 0 },
    ]);
    expect(s.errors).toEqual([1, 0]);
    expect(s.starts).toEqual([1, 2]);
  });
  it('folds the tail of a breakdown into "other"', () => {
    const shares = ['a', 'b', 'c', 'd'].map((key, i) => ({ key, requests: 10 - i, successes: 0, input_tokens: 0, output_tokens: 0, tool_requests: 0, corrected: 0 }));
    expect(topShares(shares, 3, 'Other')).toEqual([
      { name: 'a', value: 10 },
      { name: 'b', value: 9 },
      { name: 'Other', value: 15 },
    ]);
    expect(topShares(shares.slice(0, 3), 3, 'Other').map((s) => s.name)).toEqual(['a', 'b', 'c']);
  });
});

describe('errors', () => {
  it('reads the envelope and names the field', () => {
    const e = errorFrom(400, { error: { message: '`weight` must be from 1 to 1000.', type: 'invalid_request_error', param: 'weight', code: null } });
    expect(e).toBeInstanceOf(ApiError);
    expect(fieldError(e, 'weight', t)).toBe('`weight` must be from 1 to 1000.');
    expect(fieldError(e, 'name', t)).toBeUndefined();
    expect(formLevelError(e, ['weight'], t)).toBeUndefined();
    expect(formLevelError(e, ['name'], t)).toBe('`weight` must be from 1 to 1000.');
    const indexed = errorFrom(400, { error: { message: 'Unknown model', param: 'models[1]' } });
    expect(fieldError(indexed, 'models', t)).toBe('Unknown model');
  });
  it('never shows raw JSON or nothing', () => {
    expect(readableError(errorFrom(502, '<html>bad gateway</html>'), t)).toBe('errors.server:{"message":"HTTP 502"}');
    expect(readableError(new ApiError(0, 'network'), t)).toBe('errors.network');
    expect(readableError(errorFrom(401, null), t)).toBe('errors.unauthorized');
    expect(readableError(errorFrom(403, { error: { message: 'x', code: 'managed_by_config' } }), t)).toBe('errors.managedByConfig');
    expect(readableError('weird', t)).toBe('errors.unknown');
  });
});

describe('settings', () => {
  it('sends only what changed', () => {
    expect(changedSettings({ rate_limit: 60, session_mode: 'stateless' }, { rate_limit: 60, session_mode: 'reuse' })).toEqual({ session_mode: 'reuse' });
    expect(changedSettings({ rate_limit: 60 }, { rate_limit: '' })).toEqual({});
  });

  it('groups settings in the order the proxy declares them, and speaks the page language', () => {
    const s = (key: string, group: Setting['group']) => ({ key, group }) as Setting;
    const groups = groupSettings([s('a', 'conversations'), s('b', 'conversations'), s('c', 'limits')]);
    expect(groups.map((g) => [g.group, g.settings.map((x) => x.key)])).toEqual([
      ['conversations', ['a', 'b']],
      ['limits', ['c']],
    ]);
    const words = { en: 'Retries', 'zh-CN': '重试次数' };
    expect(inLanguage(words, 'zh-CN')).toBe('重试次数');
    expect(inLanguage(words, 'en')).toBe('Retries');
    expect(inLanguage(words, undefined)).toBe('Retries');
  });
});

describe('snippets', () => {
  it('fill the base URL, token and model', () => {
    const base = openaiBaseUrl('http://127.0.0.1:8787/');
    expect(base).toBe('http://127.0.0.1:8787/v1');
    expect(anthropicBaseUrl(base)).toBe('http://127.0.0.1:8787');
    const s = snippets({ baseUrl: base, token: 'sk-odp-x', model: 'gpt-4o' });
    expect(s.pythonOpenai).toContain('base_url="http://127.0.0.1:8787/v1", api_key="sk-odp-x"');
    expect(s.pythonAnthropic).toContain('base_url="http://127.0.0.1:8787", api_key="sk-odp-x"');
    expect(s.nodeOpenai).toContain('baseURL: "http://127.0.0.1:8787/v1"');
    expect(s.curlChat).toContain('http://127.0.0.1:8787/v1/chat/completions');
    expect(s.claude).toContain('ANTHROPIC_BASE_URL="http://127.0.0.1:8787"');
    expect(s.codex).toContain('wire_api = "responses"');
    expect(s.codex).toContain('base_url = "http://127.0.0.1:8787/v1"');
  });
  it('test requests speak each dialect and read its answer', () => {
    const input = { baseUrl: 'http://h/v1', token: 'tok', model: 'm' };
    const chat = testRequest('chat', input, 'hi');
    expect(chat.url).toBe('http://h/v1/chat/completions');
    expect(chat.answer({ choices: [{ message: { content: 'A' } }] })).toBe('A');
    const messages = testRequest('messages', input, 'hi');
    expect(messages.url).toBe('http://h/v1/messages');
    expect((messages.init.headers as Record<string, string>)['x-api-key']).toBe('tok');
    expect(messages.answer({ content: [{ type: 'thinking', thinking: 'x' }, { type: 'text', text: 'B' }] })).toBe('B');
    const responses = testRequest('responses', input, 'hi');
    expect(JSON.parse(String(responses.init.body))).toEqual({ model: 'm', input: 'hi', store: false });
    expect(responses.answer({ output: [{ type: 'reasoning' }, { type: 'message', content: [{ type: 'output_text', text: 'C' }] }] })).toBe('C');
  });
});

describe('patterns', () => {
  const p = (pattern: string) => ({ pattern, targets: ['predefined-x'] });
  it('are edited and moved as a whole list', () => {
    const list = [p('a*'), p('b*'), p('c*')];
    expect(edited(list, null, p('d*')).map((x) => x.pattern)).toEqual(['a*', 'b*', 'c*', 'd*']);
    expect(edited(list, 1, p('B*')).map((x) => x.pattern)).toEqual(['a*', 'B*', 'c*']);
    expect(edited(list, 0, null).map((x) => x.pattern)).toEqual(['b*', 'c*']);
    expect(moved(list, 2, -1).map((x) => x.pattern)).toEqual(['a*', 'c*', 'b*']);
    expect(moved(list, 0, -1)).toBe(list);
  });
});
