'use client';

import { nodeTitle, searchNodes } from '@loupe/core';
import { Dialog } from 'radix-ui';
import { useMemo, useState } from 'react';
import { KIND_COLORS } from './colors';
import styles from './graph.module.css';
import type { NodeSearchProps } from './types';

/** The `/` search: nodes by id, feature id, clerp or the investigation's labels, strongest first. */
export function NodeSearch({ view, labels, open, onOpenChange, onSelect }: NodeSearchProps) {
  const [query, setQuery] = useState('');
  const [active, setActive] = useState(0);
  const hits = useMemo(() => searchNodes(view, query, labels ?? null, 30), [view, query, labels]);
  const choose = (i: number) => {
    onSelect(view.ids[i]);
    onOpenChange(false);
    setQuery('');
  };
  return (
    <Dialog.Root open={open} onOpenChange={onOpenChange}>
      <Dialog.Portal>
        <Dialog.Overlay className={styles.overlay} />
        <Dialog.Content className={styles.dialog} aria-describedby={undefined}>
          <Dialog.Title>Search nodes</Dialog.Title>
          <input
            className={styles.searchInput}
            aria-label="Search nodes"
            placeholder="label, feature id or node id"
            value={query}
            onChange={(e) => {
              setQuery(e.target.value);
              setActive(0);
            }}
            onKeyDown={(e) => {
              if (e.key === 'ArrowDown') setActive((a) => Math.min(a + 1, hits.length - 1));
              else if (e.key === 'ArrowUp') setActive((a) => Math.max(a - 1, 0));
              else if (e.key === 'Enter' && hits[active] !== undefined) choose(hits[active]);
              else return;
              e.preventDefault();
            }}
          />
          <ul className={styles.results} aria-label="Matching nodes">
            {hits.map((i, j) => (
              <li key={view.ids[i]} className={j === active ? styles.current : undefined}>
                <button type="button" className={styles.linkButton} onClick={() => choose(i)}>
                  <i className={styles.swatch} style={{ background: KIND_COLORS[view.kinds[i]] }} />
                  {nodeTitle(view, i, labels?.get(view.ids[i]))}
                  <span className={styles.mono}> {view.ids[i]}</span>
                </button>
              </li>
            ))}
          </ul>
        </Dialog.Content>
      </Dialog.Portal>
    </Dialog.Root>
  );
}
