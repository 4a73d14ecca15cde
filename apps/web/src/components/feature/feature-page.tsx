'use client';

import { useQuery } from '@tanstack/react-query';
import Link from 'next/link';
import { useTRPC } from '@/trpc/client';
import { ErrorBox, Progress } from '../status';
import { useTeam } from '../team-shell';
import { FeatureSearch } from './feature-search';
import { FeatureView } from './feature-view';

/** /t/[team]/features/[dictionary]/[layer]/[feature]: one feature whole, beside its dictionary's search. */
export function FeaturePage({
  dictionaryId,
  layer,
  featureIndex,
}: {
  dictionaryId: string;
  layer: number;
  featureIndex: number;
}) {
  const team = useTeam();
  const trpc = useTRPC();
  const catalog = useQuery(trpc.catalog.list.queryOptions({ teamId: team.id }));
  if (catalog.isPending)
    return (
      <div className="page">
        <Progress label="Loading the catalogue" />
      </div>
    );
  if (catalog.isError)
    return (
      <div className="page">
        <ErrorBox error={catalog.error} retry={() => catalog.refetch()} />
      </div>
    );
  const model = catalog.data.models.find((m) => m.dictionaries.some((d) => d.id === dictionaryId));
  const dictionary = model?.dictionaries.find((d) => d.id === dictionaryId);
  if (!model || !dictionary || !Number.isInteger(layer) || !Number.isInteger(featureIndex))
    return (
      <div className="page">
        <ErrorBox error={new Error('This team has no such dictionary feature.')} />
        <Link href={`/t/${team.id}`}>Back to the investigations</Link>
      </div>
    );
  return (
    <div className="page feature-page">
      <p className="small muted">
        <Link href={`/t/${team.id}`}>Investigations</Link> · {model.name} · {dictionary.name} (
        {dictionary.kind.toUpperCase()})
      </p>
      <div className="feature-columns">
        <FeatureView feature={{ dictionaryId, layer, featureIndex }} />
        <div className="stack">
          <FeatureSearch dictionaryId={dictionaryId} nLayers={model.nLayers} />
        </div>
      </div>
    </div>
  );
}
