'use client';

import type { AppRouter } from '@loupe/api';
import type { inferRouterOutputs } from '@trpc/server';
import { useState } from 'react';
import { useTRPCClient } from '@/trpc/client';
import { ErrorBox } from '../status';
import styles from './lab.module.css';
import { type RecordedTable, recordedTable } from './recorded-result';
import { type ExperimentSpec, experimentSpec, type RunReport, runReport } from './request';

export type ExperimentRow = inferRouterOutputs<AppRouter>['experiments']['list']['items'][number];

/**
 * What an experiment shows: its saved report, 'pending' while the job it names has not saved one (a rerun
 * names a new job, so an older report does not count), or why the saved data cannot be read.
 */
export function savedResult(
  exp: ExperimentRow,
):
  | { report: RunReport; modes: string[] }
  | { recorded: RecordedTable }
  | { error: Error }
  | 'pending'
  | null {
  const recorded = recordedTable(exp.spec, exp.result);
  if (recorded) return { recorded };
  const spec = experimentSpec.safeParse(exp.spec);
  const saved = exp.result as { jobId?: unknown; report?: unknown } | null;
  if (!saved || typeof saved !== 'object' || (exp.jobId !== null && saved.jobId !== exp.jobId))
    return exp.jobId ? 'pending' : null;
  const report = runReport.safeParse(saved.report);
  if (!report.success || !spec.success)
    return { error: new Error('This experiment was saved in a form the lab cannot read.') };
  return { report: report.data, modes: spec.data.modes };
}

/** The investigation's experiments: show, rename, rerun and delete. */
export function Experiments({
  experiments,
  shownId,
  canEdit,
  busy,
  onShow,
  onRerun,
  onChanged,
}: {
  experiments: readonly ExperimentRow[];
  shownId: string | null;
  canEdit: boolean;
  busy: boolean;
  onShow: (id: string) => void;
  onRerun: (exp: ExperimentRow, spec: ExperimentSpec) => void;
  onChanged: () => Promise<unknown>;
}) {
  const client = useTRPCClient();
  const [renaming, setRenaming] = useState<{ id: string; name: string } | null>(null);
  const [error, setError] = useState<unknown>(null);
  const act = async (f: () => Promise<unknown>) => {
    setError(null);
    try {
      await f();
    } catch (e) {
      setError(e);
    }
    await onChanged();
  };
  return (
    <section className={styles.experiments} role="region" aria-label="Experiments">
      <h3>Experiments</h3>
      {experiments.length === 0 ? <p className="small muted">No experiments yet.</p> : null}
      <ul>
        {[...experiments].reverse().map((exp) => {
          const spec = experimentSpec.safeParse(exp.spec);
          const result = savedResult(exp);
          return (
            <li key={exp.id} className={exp.id === shownId ? styles.current : undefined}>
              {renaming?.id === exp.id ? (
                <form
                  className="row"
                  onSubmit={(e) => {
                    e.preventDefault();
                    const name = renaming.name.trim();
                    setRenaming(null);
                    if (name && name !== exp.name)
                      void act(() =>
                        client.experiments.update.mutate({ id: exp.id, version: exp.version, name }),
                      );
                  }}
                >
                  <input
                    aria-label="Experiment name"
                    value={renaming.name}
                    maxLength={300}
                    onChange={(e) => setRenaming({ id: exp.id, name: e.target.value })}
                    onKeyDown={(e) => {
                      if (e.key === 'Escape') setRenaming(null);
                    }}
                  />
                  <button type="submit">Save</button>
                </form>
              ) : (
                <button
                  type="button"
                  className={styles.linkButton}
                  aria-current={exp.id === shownId}
                  title={exp.name}
                  onClick={() => onShow(exp.id)}
                >
                  {exp.name}
                </button>
              )}
              <div className="row small muted">
                <span className="chip">
                  {spec.success
                    ? spec.data.runner === 'worker'
                      ? 'worker'
                      : 'browser'
                    : recordedTable(exp.spec, exp.result)
                      ? 'case study'
                      : '?'}
                </span>
                <span className="spacer">{result === 'pending' ? 'running…' : null}</span>
                {canEdit ? (
                  <>
                    <button
                      type="button"
                      aria-label={`Rename ${exp.name}`}
                      onClick={() => setRenaming({ id: exp.id, name: exp.name })}
                    >
                      Rename
                    </button>
                    <button
                      type="button"
                      aria-label={`Rerun ${exp.name}`}
                      disabled={busy || !spec.success}
                      onClick={() => {
                        if (spec.success) onRerun(exp, spec.data);
                        onShow(exp.id);
                      }}
                    >
                      Rerun
                    </button>
                    <button
                      type="button"
                      aria-label={`Delete ${exp.name}`}
                      onClick={() =>
                        void act(() => client.experiments.delete.mutate({ id: exp.id, version: exp.version }))
                      }
                    >
                      Delete
                    </button>
                  </>
                ) : null}
              </div>
            </li>
          );
        })}
      </ul>
      {error ? <ErrorBox error={error} /> : null}
    </section>
  );
}
