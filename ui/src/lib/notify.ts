// Failures of actions that have no form to show them in (a switch, a menu item, a
// confirmation) appear as a readable toast.

import { notifications } from '@mantine/notifications';
import { type Translate, readableError } from './errors';

export function notifyError(error: unknown, t: Translate): void {
  notifications.show({ color: 'red', message: readableError(error, t) });
}

/** `action`, with its failure shown as a toast (and its success too, when `done` says
 * what was done); resolves either way. */
export function settle(action: Promise<unknown>, t: Translate, done?: string): Promise<void> {
  return action.then(
    () => {
      if (done) notifications.show({ color: 'teal', message: done });
    },
    (e: unknown) => notifyError(e, t),
  );
}
