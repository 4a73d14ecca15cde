'use client';

import type { UseQueryResult } from '@tanstack/react-query';
import type { ReactNode } from 'react';
import { errorMessage } from '@/lib/errors';

/** A failure shown in place of what could not load or save; `retry` offers to try again. */
export function ErrorBox({ error, retry }: { error: unknown; retry?: () => void }) {
  return (
    <div role="alert" className="error row">
      <span className="spacer">{errorMessage(error)}</span>
      {retry ? (
        <button type="button" onClick={retry}>
          Retry
        </button>
      ) : null}
    </div>
  );
}

/** Progress for anything that may take over a second: a bar with a percentage when one is known. */
export function Progress({ label, percent }: { label: string; percent?: number | null }) {
  const known = percent !== undefined && percent !== null;
  return (
    <div className="progress" role="status" aria-live="polite">
      <span className="small muted">
        {label}
        {known ? ` — ${Math.round(percent)}%` : '…'}
      </span>
      <div
        className={`progress-bar${known ? '' : ' indeterminate'}`}
        role="progressbar"
        aria-label={label}
        aria-valuemin={0}
        aria-valuemax={100}
        aria-valuenow={known ? Math.round(percent) : undefined}
      >
        <div style={known ? { width: `${Math.max(2, Math.min(100, percent))}%` } : undefined} />
      </div>
    </div>
  );
}

/** What stands in for a query's data until it is there: its progress, or its error with a retry; null once loaded. */
export function queryPlaceholder(
  query: { isPending: boolean; isError: boolean; error: unknown; refetch: () => unknown },
  label: string,
): ReactNode {
  if (query.isPending) return <Progress label={label} />;
  if (query.isError) return <ErrorBox error={query.error} retry={() => query.refetch()} />;
  return null;
}

/**
 * A query's view: its progress while it loads, its error with a retry if it fails, and what `children` makes of
 * its data once it is there.
 */
export function Loaded<T>({
  query,
  label,
  children,
}: {
  query: UseQueryResult<T, unknown>;
  label: string;
  children: (data: T) => ReactNode;
}) {
  if (query.isPending) return <Progress label={label} />;
  if (query.isError) return <ErrorBox error={query.error} retry={() => query.refetch()} />;
  return children(query.data);
}

/** The signed-out pages' frame: a card under the product's name, in the middle of the window. */
export function BrandCard({ children }: { children: ReactNode }) {
  return (
    <main className="center">
      <div className="card">
        <h1 className="brand">Loupe</h1>
        {children}
      </div>
    </main>
  );
}

/** Relative time ("3 min ago") with the exact time in a tooltip. */
export function Ago({ at }: { at: Date | string }) {
  const d = typeof at === 'string' ? new Date(at) : at;
  const s = Math.max(0, (Date.now() - d.getTime()) / 1000);
  const text =
    s < 60
      ? 'just now'
      : s < 3600
        ? `${Math.floor(s / 60)} min ago`
        : s < 86_400
          ? `${Math.floor(s / 3600)} h ago`
          : d.toLocaleDateString();
  return (
    <time dateTime={d.toISOString()} title={d.toLocaleString()}>
      {text}
    </time>
  );
}

/** Marks a read-only team (the seeded Examples) and its investigations. */
export function ReadOnlyBadge() {
  return (
    <span
      className="chip"
      role="note"
      aria-label="Read-only"
      title="Every user can read this; nobody can change it"
    >
      Read-only
    </span>
  );
}
