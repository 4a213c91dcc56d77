// i18next: English and Simplified Chinese. Follows the system language until the person picks
// one (kept in localStorage, shared with the desktop shell's preference).

import i18n from 'i18next';
import LanguageDetector from 'i18next-browser-languagedetector';
import { initReactI18next } from 'react-i18next';
import en from './en.json';
import zhCN from './zh-CN.json';

export const LANGUAGES = [
  { code: 'en', label: 'English' },
  { code: 'zh-CN', label: '简体中文' },
] as const;

export const LANGUAGE_KEY = 'odp.language';

void i18n
  .use(LanguageDetector)
  .use(initReactI18next)
  .init({
    resources: { en: { translation: en }, 'zh-CN': { translation: zhCN } },
    supportedLngs: ['en', 'zh-CN'],
    fallbackLng: { zh: ['zh-CN'], 'zh-TW': ['zh-CN'], 'zh-HK': ['zh-CN'], default: ['en'] },
    nonExplicitSupportedLngs: false,
    detection: { order: ['localStorage', 'navigator'], lookupLocalStorage: LANGUAGE_KEY, caches: ['localStorage'] },
    interpolation: { escapeValue: false },
    returnNull: false,
  });

i18n.on('languageChanged', (lng) => {
  document.documentElement.lang = lng;
});

/** The language to format with: the resolved UI language. */
export function locale(): string {
  return i18n.resolvedLanguage ?? 'en';
}

export default i18n;
