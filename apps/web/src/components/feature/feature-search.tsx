'use client';

import { useQuery } from '@tanstack/react-query';
import Link from 'next/link';
import { useDeferredValue, useState } from 'react';
import { useTRPC } from '@/trpc/client';
import { Loaded } from '../status';
import { useTeam } from '../team-shell';
import { show } from './charts';
import { featureHref } from './feature-view';
import { DataTable } from '../data-table';

const pageSize = 50;

/**
 * The dictionary's indexed features, searched by label text, kept to a layer and a density range, ordered by
 * feature or density.
 */
export function FeatureSearch({ dictionaryId, nLayers }: { dictionaryId: string; nLayers: number | null }) {
  const team = useTeam();
  const trpc = useTRPC();
  const [text, setText] = useState('');
  const [layer, setLayer] = useState('');
  const [sort, setSort] = useState('feature');
  const [offset, setOffset] = useState(0);
  const [minPct, setMinPct] = useState('');
  const [maxPct, setMaxPct] = useState('');
  // A changed filter lists its results from the first page.
  const refilter = (set: (value: string) => void) => (value: string) => {
    set(value);
    setOffset(0);
  };
  const query = useDeferredValue(text.trim());
  const minDensity = densityBound(minPct);
  const maxDensity = densityBound(maxPct);
  const crossed = minDensity !== undefined && maxDensity !== undefined && minDensity > maxDensity;
  const [by, order] = sort === 'feature' ? (['feature', 'asc'] as const) : (['density', sort] as const);
  const results = useQuery(
    trpc.features.search.queryOptions(
      {
        teamId: team.id,
        dictionaryId,
        ...(query ? { text: query } : {}),
        ...(layer !== '' ? { layer: Number(layer) } : {}),
        ...(minDensity !== undefined && !crossed ? { minDensity } : {}),
        ...(maxDensity !== undefined && !crossed ? { maxDensity } : {}),
        sort: by,
        order: order as 'asc' | 'desc',
        offset,
        limit: pageSize,
      },
      { placeholderData: (prev) => prev },
    ),
  );
  return (
    <section className="panel" aria-label="Feature search">
      <header>Features of this dictionary</header>
      <div className="body stack">
        <div className="row wrap">
          <input
            type="search"
            aria-label="Search features"
            placeholder="label text"
            className="spacer"
            value={text}
            onChange={(e) => refilter(setText)(e.target.value)}
          />
          <select aria-label="Layer" value={layer} onChange={(e) => refilter(setLayer)(e.target.value)}>
            <option value="">all layers</option>
            {Array.from({ length: nLayers ?? 0 }, (_, l) => (
              // biome-ignore lint/suspicious/noArrayIndexKey: layers are numbered
              <option key={l} value={l}>
                layer {l}
              </option>
            ))}
          </select>
          <label className="small">
            density ≥ <DensityInput bound="Min" value={minPct} onChange={refilter(setMinPct)} />% ≤{' '}
            <DensityInput bound="Max" value={maxPct} onChange={refilter(setMaxPct)} />%
          </label>
          <select aria-label="Order" value={sort} onChange={(e) => setSort(e.target.value)}>
            <option value="feature">by layer and index</option>
            <option value="desc">densest first</option>
            <option value="asc">sparsest first</option>
          </select>
        </div>
        {crossed ? (
          <p className="small muted" role="note">
            The lowest density is above the highest, so the density range is left out.
          </p>
        ) : null}
        <Loaded query={results} label="Searching features">
          {(page) =>
            page.items.length === 0 ? (
              <p className="muted small">
                {query || layer !== '' || minDensity !== undefined || maxDensity !== undefined
                  ? 'No feature matches.'
                  : 'No features indexed for this dictionary yet.'}
              </p>
            ) : (
              <DataTable columns={['Feature', 'Label', 'Density', 'Promotes']} className="small">
                {page.items.map((f) => (
                  <tr key={`${f.layer}:${f.featureIndex}`}>
                    <td>
                      <Link
                        href={featureHref(team.id, {
                          dictionaryId,
                          layer: f.layer,
                          featureIndex: f.featureIndex,
                        })}
                      >
                        L{f.layer} #{f.featureIndex}
                      </Link>
                    </td>
                    <td>
                      {f.label ? <strong>{f.label}</strong> : <span className="muted">{f.autoLabel}</span>}
                    </td>
                    <td className="mono">{(f.density * 100).toPrecision(2)}%</td>
                    <td className="mono">{f.topLogits.slice(0, 3).map(show).join(' ')}</td>
                  </tr>
                ))}
              </DataTable>
            )
          }
        </Loaded>
        <div className="row">
          <button
            type="button"
            disabled={offset === 0}
            onClick={() => setOffset(Math.max(0, offset - pageSize))}
          >
            Previous
          </button>
          <button
            type="button"
            disabled={!results.data?.nextOffset}
            onClick={() => setOffset(results.data?.nextOffset ?? offset)}
          >
            Next
          </button>
        </div>
      </div>
    </section>
  );
}

/** A density bound typed as a percentage, as the fraction the search takes; undefined when empty or invalid. */
function densityBound(pct: string): number | undefined {
  if (pct.trim() === '') return undefined;
  const v = Number(pct);
  return Number.isFinite(v) && v >= 0 && v <= 100 ? v / 100 : undefined;
}

/** One bound of the density filter, in percent of tokens (kept as typed, so an empty field means no bound). */
function DensityInput({
  bound,
  value,
  onChange,
}: {
  bound: 'Min' | 'Max';
  value: string;
  onChange: (value: string) => void;
}) {
  return (
    <input
      type="number"
      aria-label={`${bound} density (%)`}
      title={`${bound === 'Min' ? 'Lowest' : 'Highest'} activation density: the percentage of tokens the feature fires on`}
      min={0}
      max={100}
      step="any"
      className="narrow"
      value={value}
      onChange={(e) => onChange(e.target.value)}
    />
  );
}
