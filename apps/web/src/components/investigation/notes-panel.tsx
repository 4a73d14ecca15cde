'use client';

import { Markdown } from '../markdown';

/** The investigation's notes, rendered from Markdown (the seeded examples' claims, criteria and verdicts). */
export function NotesPanel({ notes }: { notes: string }) {
  return (
    <section className="body small notes" role="region" aria-label="Notes" style={{ padding: '8px 10px' }}>
      {notes.trim() ? <Markdown source={notes} /> : <span className="muted">No notes yet.</span>}
    </section>
  );
}
