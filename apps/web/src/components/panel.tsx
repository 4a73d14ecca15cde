'use client';

import { type ReactNode, useId } from 'react';

/** A titled panel of a settings or home page: a region named by its header, with a stacked body. */
export function Panel({ title, children }: { title: string; children: ReactNode }) {
  const headerId = useId();
  return (
    <section className="panel" aria-labelledby={headerId}>
      <header id={headerId}>{title}</header>
      <div className="body stack">{children}</div>
    </section>
  );
}
