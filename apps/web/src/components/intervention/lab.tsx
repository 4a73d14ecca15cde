'use client';

import {
  type GraphView,
  INTERVENTION_MODES,
  type InterventionMode,
  nodeTitle,
  parseNodeId,
} from '@loupe/core';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useCallback, useEffect, useRef, useState } from 'react';
import type { InvestigationDoc } from '@/lib/investigation-doc';
import { useTRPC, useTRPCClient } from '@/trpc/client';
import { ErrorBox, Progress } from '../status';
import { useTeam } from '../team-shell';
import { JobProgress } from '../trace-progress';
import { interveneInBrowser, organismManifest, runsInBrowser } from './browser-run';
import { Experiments, type ExperimentRow, savedResult } from './experiments';
import { RecordedResult } from './recorded-result';
import styles from './lab.module.css';
import {
  buildRequest,
  type Change,
  type ExperimentSpec,
  experimentName,
  type Runner,
  type Target,
} from './request';
import { InterventionResult } from './result';

const MODE_NAMES: Record<InterventionMode, string> = {
  constrained: 'Constrained',
  'frozen-attention': 'Frozen attention',
  free: 'Free',
};
const PRESETS = [0, -2, 5];

/** The feature members of graph nodes (other kinds cannot be intervened on), with the graph's positions. */
function featureMembers(view: GraphView, ids: readonly string[]): Target['members'] {
  return ids.flatMap((id) => {
    const i = view.index.get(id);
    if (i === undefined || view.kinds[i] !== 'feature') return [];
    const p = parseNodeId(id);
    return p.kind === 'indexed' ? [{ layer: p.layer, pos: p.pos, feature: p.index }] : [];
  });
}

/**
 * The intervention lab: pick features or supernodes of the graph, change them, run in one or two modes on the
 * worker or (for shipped organisms) in this page, and keep each run as an experiment of the investigation.
 */
export function InterventionLab({
  doc,
  view,
  selectedId,
  pins,
}: {
  doc: InvestigationDoc;
  view: GraphView;
  selectedId: string | null;
  pins: readonly string[];
}) {
  const team = useTeam();
  const trpc = useTRPC();
  const client = useTRPCClient();
  const queryClient = useQueryClient();
  const canEdit = team.role !== 'viewer';

  const [targets, setTargets] = useState<Target[]>([]);
  const [op, setOp] = useState<Change['op']>('scale');
  const [amount, setAmount] = useState('0');
  const [mode, setMode] = useState<InterventionMode>('constrained');
  const [second, setSecond] = useState<InterventionMode | ''>('');
  const [generate, setGenerate] = useState('0');
  const [topK, setTopK] = useState('5');
  const [runner, setRunner] = useState<Runner>('worker');
  const [manual, setManual] = useState({ layer: '', pos: '', feature: '' });
  const [shownId, setShownId] = useState<string | null>(null);
  const [browserStatus, setBrowserStatus] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);

  const catalog = useQuery(trpc.catalog.list.queryOptions({ teamId: team.id }));
  const model = catalog.data?.models.find((m) => m.id === doc.modelId);
  const dictionary = model?.dictionaries.find((d) => d.id === doc.dictionaryId);
  const manifest = useQuery({
    queryKey: ['organism-manifest'],
    queryFn: organismManifest,
    staleTime: Infinity,
  });
  const browserOk = Boolean(
    manifest.data && runsInBrowser(manifest.data, model?.key ?? null, dictionary?.key ?? null),
  );

  const listKey = trpc.experiments.list.queryKey({ investigationId: doc.id });
  const list = useQuery(trpc.experiments.list.queryOptions({ investigationId: doc.id }));
  const experiments = (list.data?.items ?? []) as ExperimentRow[];
  const refresh = useCallback(
    () => queryClient.invalidateQueries({ queryKey: listKey }),
    [queryClient, listKey],
  );
  const shown = experiments.find((e) => e.id === shownId) ?? experiments[experiments.length - 1] ?? null;

  const label = useCallback(
    (id: string) => nodeTitle(view, view.index.get(id) ?? 0, doc.nodeLabels[id]),
    [view, doc.nodeLabels],
  );
  const add = useCallback((t: Target) => {
    if (t.members.length > 0) setTargets((ts) => [...ts.filter((x) => x.label !== t.label), t]);
  }, []);
  const selectedMembers = selectedId ? featureMembers(view, [selectedId]) : [];
  const pinnedFeatures = pins.filter((id) => featureMembers(view, [id]).length > 0);

  const change: Change | null = Number.isFinite(Number.parseFloat(amount))
    ? { op, amount: Number.parseFloat(amount) }
    : null;
  const modes: InterventionMode[] = second && second !== mode ? [mode, second] : [mode];
  const nGenerate = Math.max(0, Math.min(64, Math.floor(Number(generate) || 0)));
  const k = Math.max(1, Math.min(20, Math.floor(Number(topK) || 5)));

  /** Runs a request where the spec says and saves it: a new experiment, or `rerun`'s existing one. */
  const run = useMutation({
    mutationFn: async ({ spec, rerun }: { spec: ExperimentSpec; rerun?: ExperimentRow }) => {
      setError(null);
      if (!doc.modelId || !doc.dictionaryId)
        throw new Error('This investigation names no model or dictionary.');
      const name = rerun?.name ?? experimentName(spec.targets, spec.change, spec.modes, spec.runner);
      if (spec.runner === 'worker') {
        const job = await client.jobs.enqueue.mutate({
          teamId: team.id,
          kind: 'intervene',
          params: {
            modelId: doc.modelId,
            dictionaryId: doc.dictionaryId,
            prompt: spec.prompt,
            ...spec.request,
          },
        });
        return rerun
          ? client.experiments.update.mutate({ id: rerun.id, version: rerun.version, jobId: job.id, spec })
          : client.experiments.create.mutate({ investigationId: doc.id, name, spec, jobId: job.id });
      }
      if (!model?.key || !dictionary?.key) throw new Error('Only shipped organisms run in the browser.');
      const report = await interveneInBrowser(
        model.key,
        dictionary.key,
        spec.prompt,
        spec.request,
        setBrowserStatus,
      );
      const result = { jobId: null, report, ranAt: new Date().toISOString() };
      return rerun
        ? client.experiments.update.mutate({
            id: rerun.id,
            version: rerun.version,
            spec,
            result,
            jobId: null,
          })
        : client.experiments.create.mutate({ investigationId: doc.id, name, spec, result });
    },
    onSuccess: (exp) => {
      // The saved row goes into the list before it is shown, so the result never blinks out while the
      // list reloads.
      queryClient.setQueryData(listKey, (page) =>
        page
          ? {
              ...page,
              items: page.items.some((e) => e.id === exp.id)
                ? page.items.map((e) => (e.id === exp.id ? exp : e))
                : [...page.items, exp],
            }
          : page,
      );
      setShownId(exp.id);
    },
    onError: setError,
    onSettled: () => {
      setBrowserStatus(null);
      void refresh();
    },
  });

  const intervene = () => {
    if (!change || targets.length === 0) return;
    run.mutate({
      spec: {
        targets,
        change,
        modes,
        runner,
        prompt: doc.prompt,
        request: buildRequest(targets, change, modes, nGenerate, k),
      },
    });
  };

  // A worker experiment's result is saved by the page that sees its job finish.
  const saveJobResult = useCallback(
    async (exp: ExperimentRow) => {
      if (!exp.jobId) return;
      const { result } = await client.jobs.result.query({ jobId: exp.jobId });
      const saved = { jobId: exp.jobId, report: result, ranAt: new Date().toISOString() };
      try {
        await client.experiments.update.mutate({ id: exp.id, version: exp.version, result: saved });
      } catch {
        // Another page saved it first; the list reload shows theirs.
      }
      await refresh();
    },
    [client, refresh],
  );

  useEffect(() => {
    if (browserOk === false && runner === 'browser') setRunner('worker');
  }, [browserOk, runner]);

  const shownResult = shown ? savedResult(shown) : null;
  const busy = run.isPending;

  return (
    <section className={styles.lab} role="region" aria-label="Intervention lab">
      <header>Intervention lab</header>
      {canEdit ? (
        <div className={styles.form}>
          <fieldset>
            <legend>Features to change</legend>
            {targets.length === 0 ? (
              <p className="small muted">
                Add the selected node, the pinned nodes, a supernode, or a feature by number.
              </p>
            ) : (
              <ul className={styles.targets} aria-label="Features to change">
                {targets.map((t) => (
                  <li key={t.label}>
                    <span className="spacer">
                      {t.label}
                      {t.members.length > 1 ? (
                        <span className="muted"> · {t.members.length} features</span>
                      ) : null}
                    </span>
                    <button
                      type="button"
                      aria-label={`Remove ${t.label}`}
                      onClick={() => setTargets((ts) => ts.filter((x) => x !== t))}
                    >
                      ×
                    </button>
                  </li>
                ))}
              </ul>
            )}
            <div className="row wrap">
              <button
                type="button"
                disabled={selectedMembers.length === 0}
                title={selectedMembers.length === 0 ? 'Select a feature node in the graph' : undefined}
                onClick={() => selectedId && add({ label: label(selectedId), members: selectedMembers })}
              >
                Add selected
              </button>
              <button
                type="button"
                disabled={pinnedFeatures.length === 0}
                onClick={() => {
                  for (const id of pinnedFeatures)
                    add({ label: label(id), members: featureMembers(view, [id]) });
                }}
              >
                Add pinned
              </button>
              {doc.supernodes.length > 0 ? (
                <select
                  aria-label="Add supernode"
                  value=""
                  onChange={(e) => {
                    const sn = doc.supernodes.find((s) => s.id === e.target.value);
                    if (sn) add({ label: sn.name, members: featureMembers(view, sn.nodeIds) });
                  }}
                >
                  <option value="">Add supernode…</option>
                  {doc.supernodes.map((s) => (
                    <option key={s.id} value={s.id}>
                      {s.name}
                    </option>
                  ))}
                </select>
              ) : null}
            </div>
            <form
              className={`row ${styles.manual}`}
              onSubmit={(e) => {
                e.preventDefault();
                const [layer, pos, feature] = [manual.layer, manual.pos, manual.feature].map(Number);
                if (![layer, pos, feature].every((x) => Number.isInteger(x) && x >= 0)) return;
                add({ label: `L${layer} pos ${pos} #${feature}`, members: [{ layer, pos, feature }] });
                setManual({ layer: '', pos: '', feature: '' });
              }}
            >
              {(['layer', 'pos', 'feature'] as const).map((f) => (
                <input
                  key={f}
                  type="number"
                  min={0}
                  required
                  aria-label={f === 'pos' ? 'Position' : f === 'layer' ? 'Layer' : 'Feature'}
                  placeholder={f === 'feature' ? '#' : f}
                  value={manual[f]}
                  onChange={(e) => setManual((m) => ({ ...m, [f]: e.target.value }))}
                />
              ))}
              <button type="submit">Add feature</button>
            </form>
          </fieldset>

          <fieldset>
            <legend>Change</legend>
            <div className="row wrap">
              <select aria-label="Change" value={op} onChange={(e) => setOp(e.target.value as Change['op'])}>
                <option value="scale">Scale activation by</option>
                <option value="set">Set activation to</option>
              </select>
              <input
                type="number"
                step="any"
                aria-label={op === 'scale' ? 'Factor' : 'Value'}
                value={amount}
                onChange={(e) => setAmount(e.target.value)}
                className={styles.amount}
              />
            </div>
            <div className="row">
              {PRESETS.map((p) => (
                <button
                  key={p}
                  type="button"
                  aria-pressed={op === 'scale' && Number(amount) === p}
                  onClick={() => {
                    setOp('scale');
                    setAmount(String(p));
                  }}
                >
                  ×{p < 0 ? `−${-p}` : p}
                </button>
              ))}
            </div>
          </fieldset>

          <fieldset>
            <legend>Run</legend>
            <div className={styles.grid}>
              <label>
                Mode
                <select value={mode} onChange={(e) => setMode(e.target.value as InterventionMode)}>
                  {INTERVENTION_MODES.map((m) => (
                    <option key={m} value={m}>
                      {MODE_NAMES[m]}
                    </option>
                  ))}
                </select>
              </label>
              <label>
                Side by side with
                <select value={second} onChange={(e) => setSecond(e.target.value as InterventionMode | '')}>
                  <option value="">(none)</option>
                  {INTERVENTION_MODES.filter((m) => m !== mode).map((m) => (
                    <option key={m} value={m}>
                      {MODE_NAMES[m]}
                    </option>
                  ))}
                </select>
              </label>
              <CountField label="Generate tokens" min={0} max={64} value={generate} onChange={setGenerate} />
              <CountField label="Top tokens" min={1} max={20} value={topK} onChange={setTopK} />
              <label>
                Run on
                <select value={runner} onChange={(e) => setRunner(e.target.value as Runner)}>
                  <option value="worker">Worker</option>
                  <option value="browser" disabled={!browserOk}>
                    This browser{browserOk ? '' : ' (shipped organisms only)'}
                  </option>
                </select>
              </label>
            </div>
            <button
              type="button"
              className="primary"
              disabled={busy || targets.length === 0 || !change}
              onClick={intervene}
            >
              Intervene
            </button>
          </fieldset>
          {busy ? <Progress label={browserStatus ?? 'Starting the intervention'} /> : null}
          {error ? <ErrorBox error={error} /> : null}
        </div>
      ) : null}

      <Experiments
        experiments={experiments}
        shownId={shown?.id ?? null}
        canEdit={canEdit}
        busy={busy}
        onShow={setShownId}
        onRerun={(exp, spec) => run.mutate({ spec, rerun: exp })}
        onChanged={refresh}
      />
      {list.isError ? <ErrorBox error={list.error} retry={() => list.refetch()} /> : null}

      {shown && shownResult === 'pending' && shown.jobId ? (
        <PendingJob key={shown.jobId} jobId={shown.jobId} onDone={() => void saveJobResult(shown)} />
      ) : null}
      {shown && shownResult && shownResult !== 'pending' ? (
        'error' in shownResult ? (
          <ErrorBox error={shownResult.error} />
        ) : 'recorded' in shownResult ? (
          <RecordedResult table={shownResult.recorded} />
        ) : (
          <InterventionResult report={shownResult.report} modes={shownResult.modes} title={shown.name} />
        )
      ) : null}
    </section>
  );
}

/** A worker run still going: its progress, and `onDone` once when it has succeeded. */
function PendingJob({ jobId, onDone }: { jobId: string; onDone: () => void }) {
  const done = useRef(false);
  const latest = useRef(onDone);
  latest.current = onDone;
  const succeeded = useCallback(() => {
    if (done.current) return;
    done.current = true;
    latest.current();
  }, []);
  return (
    <div className={styles.pending}>
      <JobProgress jobId={jobId} onSucceeded={succeeded} />
    </div>
  );
}

/** A whole-number setting of the run, kept as typed text until the run reads it. */
function CountField({
  label,
  min,
  max,
  value,
  onChange,
}: {
  label: string;
  min: number;
  max: number;
  value: string;
  onChange: (value: string) => void;
}) {
  return (
    <label>
      {label}
      <input type="number" min={min} max={max} value={value} onChange={(e) => onChange(e.target.value)} />
    </label>
  );
}
