// The Settings page's logic; what each setting is (kind, group, label, help) comes from the
// proxy's one declaration of it, through GET /api/settings.

import type { Setting, SettingGroup, Words } from '../api/types';

/** The settings by group, in the order the proxy declares them. */
export function groupSettings(settings: Setting[]): { group: SettingGroup; settings: Setting[] }[] {
  const groups: { group: SettingGroup; settings: Setting[] }[] = [];
  for (const s of settings) {
    const last = groups[groups.length - 1];
    if (last?.group === s.group) last.settings.push(s);
    else groups.push({ group: s.group, settings: [s] });
  }
  return groups;
}

/** The text in the page's language, English otherwise. */
export function inLanguage(words: Words, language: string | undefined): string {
  return language === 'zh-CN' ? words['zh-CN'] : words.en;
}

/** The keys whose draft differs from the stored value, with the values to send. */
export function changedSettings(values: Record<string, unknown>, draft: Record<string, unknown>): Record<string, unknown> {
  const changes: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(draft)) {
    if (value === '' || value === undefined) continue;
    if (JSON.stringify(value) !== JSON.stringify(values[key])) changes[key] = value;
  }
  return changes;
}
