'use client';

import { Dialog } from 'radix-ui';
import { type FormEvent, useId } from 'react';
import { DialogActions } from '../dialog-actions';

/** Asks for a supernode's name before the pinned nodes (or a suggestion's members) are grouped under it. */
export function GroupDialog({
  count,
  open,
  onOpenChange,
  onGroup,
  title = `Group ${count} pinned nodes`,
  defaultName,
}: {
  count: number;
  open: boolean;
  onOpenChange: (open: boolean) => void;
  onGroup: (name: string) => void;
  title?: string;
  defaultName?: string;
}) {
  const nameId = useId();
  const submit = (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const name = String(new FormData(e.currentTarget).get('name') ?? '').trim();
    if (name === '') return;
    onGroup(name);
    onOpenChange(false);
  };
  return (
    <Dialog.Root open={open} onOpenChange={onOpenChange}>
      <Dialog.Portal>
        <Dialog.Overlay className="dialog-overlay" />
        <Dialog.Content className="dialog" style={{ width: 'min(380px, calc(100vw - 24px))' }}>
          <Dialog.Title>{title}</Dialog.Title>
          <Dialog.Description className="muted small">
            A supernode names what its nodes do together, e.g. "say a number ending in 5".
          </Dialog.Description>
          <form className="stack" onSubmit={submit}>
            <label className="field" htmlFor={nameId}>
              Supernode name
            </label>
            <input
              id={nameId}
              name="name"
              required
              maxLength={300}
              autoComplete="off"
              defaultValue={defaultName}
            />
            <DialogActions close="Cancel">
              <button type="submit" className="primary">
                Group
              </button>
            </DialogActions>
          </form>
        </Dialog.Content>
      </Dialog.Portal>
    </Dialog.Root>
  );
}
