'use client';

import * as Plot from '@observablehq/plot';
import { useEffect, useMemo, useRef, useState } from 'react';
import { probabilityText } from '../graph/logit-probability';
import { logitsOf, probabilityRows, type RunReport } from './request';
import styles from './lab.module.css';

type Run = RunReport['runs'][number];
type Position = Run['positions'][number];

const tokenText = (t: { id: number; token?: string }) => JSON.stringify(t.token ?? `#${t.id}`);

/** Before and after probabilities of the union of both top-k lists, one row per token, two bars each. */
function ProbabilityBars({ position, label }: { position: Position; label: string }) {
  const ref = useRef<HTMLDivElement>(null);
  const rows = useMemo(
    () =>
      probabilityRows(position).flatMap((t) => [
        ...(t.before === undefined ? [] : [{ token: tokenText(t), side: 'before', prob: t.before }]),
        ...(t.after === undefined ? [] : [{ token: tokenText(t), side: 'after', prob: t.after }]),
      ]),
    [position],
  );
  const order = useMemo(() => [...new Set(rows.map((r) => r.token))], [rows]);
  useEffect(() => {
    const el = ref.current;
    if (!el) return;
    const chart = Plot.plot({
      width: 300,
      height: 26 + order.length * 30,
      marginLeft: 64,
      marginRight: 44,
      style: { background: 'transparent', color: 'var(--fg)', fontSize: '11px' },
      x: { domain: [0, 1], label: 'probability', grid: true, tickFormat: '%' },
      y: { domain: ['before', 'after'], axis: null },
      fy: { domain: order, label: null },
      marks: [
        Plot.barX(rows, {
          x: 'prob',
          y: 'side',
          fy: 'token',
          fill: (d: { side: string }) => (d.side === 'before' ? 'var(--muted)' : 'var(--accent)'),
          title: (d: { token: string; side: string; prob: number }) =>
            `${d.token} ${d.side}: ${probabilityText(d.prob)}`,
        }),
        Plot.text(rows, {
          x: 'prob',
          y: 'side',
          fy: 'token',
          text: (d: { prob: number }) => probabilityText(d.prob),
          dx: 4,
          textAnchor: 'start',
          fill: 'currentColor',
        }),
      ],
    });
    chart.setAttribute('role', 'img');
    chart.setAttribute('aria-label', label);
    el.replaceChildren(chart);
    return () => chart.remove();
  }, [rows, order, label]);
  return <div ref={ref} className={styles.chart} />;
}

/** logit(a) − logit(b) before and after, for two tokens whose logits the report holds on both sides. */
function LogitDifference({ position }: { position: Position }) {
  const known = useMemo(() => {
    const all = new Map<number, { id: number; token?: string }>();
    for (const t of [...(position.union ?? []), ...position.clean, ...position.intervened, ...position.diffs])
      if (logitsOf(position, t.id)) all.set(t.id, t);
    return [...all.values()];
  }, [position]);
  const [a, setA] = useState<number | null>(null);
  const [b, setB] = useState<number | null>(null);
  // Defaults among the tokens with logits on both sides, or the selects would show a token they do not hold:
  // the clean top token (else the first known), and the intervened top token that differs from it.
  const has = (id: number | undefined) => id !== undefined && known.some((t) => t.id === id);
  const top = position.clean[0]?.id;
  const first = has(top) ? top : known[0]?.id;
  const second =
    position.intervened.find((t) => t.id !== first && has(t.id))?.id ?? known.find((t) => t.id !== first)?.id;
  const idA = a ?? first;
  const idB = b ?? second;
  const la = idA === undefined ? null : logitsOf(position, idA);
  const lb = idB === undefined ? null : logitsOf(position, idB);
  const select = (value: number | undefined, set: (v: number) => void, name: string) => (
    <select aria-label={name} value={value ?? ''} onChange={(e) => set(Number(e.target.value))}>
      {known.map((t) => (
        <option key={t.id} value={t.id}>
          {tokenText(t)}
        </option>
      ))}
    </select>
  );
  return (
    <div className={styles.diff}>
      <div className="row wrap small">
        logit {select(idA, setA, 'Token A')} − logit {select(idB, setB, 'Token B')}
      </div>
      {la && lb ? (
        <table className={styles.numbers}>
          <tbody>
            <tr>
              <th scope="row">before</th>
              <td>{(la.before - lb.before).toFixed(3)}</td>
              <th scope="row">after</th>
              <td>{(la.after - lb.after).toFixed(3)}</td>
              <th scope="row">change</th>
              <td>{(la.after - lb.after - (la.before - lb.before)).toFixed(3)}</td>
            </tr>
          </tbody>
        </table>
      ) : (
        <p className="small muted">Pick two tokens listed above.</p>
      )}
    </div>
  );
}

function RunView({ run }: { run: Run }) {
  const last = run.positions[run.positions.length - 1];
  return (
    <div className={styles.run}>
      <h4>
        {run.mode} <span className="small muted">KL {last.kl.toExponential(2)}</span>
      </h4>
      <ProbabilityBars position={last} label={`Next-token probabilities before and after (${run.mode})`} />
      <div className={`small ${styles.legend}`}>
        <i style={{ background: 'var(--muted)' }} /> before <i style={{ background: 'var(--accent)' }} />{' '}
        after
      </div>
      <LogitDifference position={last} />
      <details className="small">
        <summary>
          {run.applied.length} feature value{run.applied.length === 1 ? '' : 's'} changed
        </summary>
        <ul className={styles.applied}>
          {run.applied.slice(0, 50).map((a) => (
            <li key={`${a.layer}:${a.pos}:${a.feature}`} className="mono">
              L{a.layer} pos {a.pos} #{a.feature}: {a.current.toPrecision(4)} → {a.value.toPrecision(4)}
            </li>
          ))}
        </ul>
      </details>
    </div>
  );
}

/** The region "Intervention result": each shown mode's bars and logit difference, then any continuation. */
export function InterventionResult({
  report,
  modes,
  title,
}: {
  report: RunReport;
  modes: readonly string[];
  title: string;
}) {
  const runs = modes.flatMap((m) => report.runs.filter((r) => r.mode === m));
  const gen = report.generation;
  return (
    <section className={styles.result} role="region" aria-label="Intervention result">
      <h3>{title}</h3>
      <div className={styles.runs}>
        {(runs.length > 0 ? runs : report.runs).map((r) => (
          <RunView key={r.mode} run={r} />
        ))}
      </div>
      {gen ? (
        <dl className={styles.continuation}>
          <dt>Continuation before</dt>
          <dd className="mono">{JSON.stringify(gen.clean.text ?? gen.clean.tokens.join(' '))}</dd>
          <dt>
            Continuation after <span className="small">({gen.mode})</span>
          </dt>
          <dd className="mono">{JSON.stringify(gen.intervened.text ?? gen.intervened.tokens.join(' '))}</dd>
        </dl>
      ) : null}
    </section>
  );
}
