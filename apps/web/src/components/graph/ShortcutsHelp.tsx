'use client';

import { Dialog } from 'radix-ui';
import { useHotkeys } from 'react-hotkeys-hook';
import styles from './graph.module.css';
import type { GraphShortcutHandlers, ShortcutsHelpProps } from './types';

/** Every shortcut of the explorer; the help dialog lists exactly these. */
export const GRAPH_SHORTCUTS: readonly {
  keys: string;
  label: string;
  action: keyof GraphShortcutHandlers;
}[] = [
  { keys: 'j', label: 'Next node by influence', action: 'next' },
  { keys: 'k', label: 'Previous node by influence', action: 'previous' },
  { keys: 'p', label: 'Pin or unpin the selected node', action: 'pin' },
  { keys: 'g', label: 'Group the pinned nodes into a supernode', action: 'group' },
  { keys: '/', label: 'Search nodes by label or feature id', action: 'search' },
  { keys: 'Esc', label: 'Clear the selection, close dialogs', action: 'clear' },
  { keys: '?', label: 'Show these shortcuts', action: 'help' },
];

/**
 * Binds the explorer's keys on the document. They stay quiet while typing in a textbox, except Esc, which also
 * leaves the textbox.
 */
export function useGraphShortcuts(handlers: GraphShortcutHandlers, enabled = true): void {
  const opts = { enabled, preventDefault: true };
  useHotkeys('j', handlers.next, opts, [handlers]);
  useHotkeys('k', handlers.previous, opts, [handlers]);
  useHotkeys('p', handlers.pin, opts, [handlers]);
  useHotkeys('g', handlers.group, opts, [handlers]);
  useHotkeys('slash', handlers.search, opts, [handlers]);
  useHotkeys('shift+slash', handlers.help, { ...opts, useKey: false }, [handlers]);
  useHotkeys('escape', handlers.clear, { enabled, enableOnFormTags: true }, [handlers]);
}

export function ShortcutsHelp({ open, onOpenChange }: ShortcutsHelpProps) {
  return (
    <Dialog.Root open={open} onOpenChange={onOpenChange}>
      <Dialog.Portal>
        <Dialog.Overlay className={styles.overlay} />
        <Dialog.Content className={styles.dialog}>
          <Dialog.Title>Keyboard shortcuts</Dialog.Title>
          <Dialog.Description className={styles.muted}>In the attribution graph explorer.</Dialog.Description>
          <table className={styles.shortcuts}>
            <tbody>
              {GRAPH_SHORTCUTS.map((s) => (
                <tr key={s.action}>
                  <td>
                    <kbd>{s.keys}</kbd>
                  </td>
                  <td>{s.label}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <Dialog.Close asChild>
            <button type="button" className={styles.smallButton}>
              Close
            </button>
          </Dialog.Close>
        </Dialog.Content>
      </Dialog.Portal>
    </Dialog.Root>
  );
}
