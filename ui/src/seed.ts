// Runs before i18n and the theme read their storage (imports evaluate in order).
import { seedFromShell } from './api/shell';

seedFromShell();
