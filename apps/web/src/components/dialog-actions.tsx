'use client';

import { Dialog } from 'radix-ui';
import type { ReactNode } from 'react';

/**
 * A dialog's closing row, at its right: the button that closes the dialog without acting (`close` names it),
 * then the dialog's own actions.
 */
export function DialogActions({ close, children }: { close: string; children?: ReactNode }) {
  return (
    <div className="row">
      <span className="spacer" />
      <Dialog.Close asChild>
        <button type="button">{close}</button>
      </Dialog.Close>
      {children}
    </div>
  );
}
