'use client';

/** The investigation's notes as written (the seeded examples' claims, criteria and verdicts). */
export function NotesPanel({ notes }: { notes: string }) {
  return (
    <section
      className="body small"
      role="region"
      aria-label="Notes"
      style={{ whiteSpace: 'pre-wrap', padding: '8px 10px' }}
    >
      {notes.trim() ? notes : <span className="muted">No notes yet.</span>}
    </section>
  );
}
