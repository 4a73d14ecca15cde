import type { GraphView } from '@loupe/core';
import type { ReactNode } from 'react';
import { formatNumber } from './colors';

/**
 * What the hover card and the details panel both read off node `node`, as rows of their <dl>: a logit's
 * probability (drawn by `probability`), then the activation and the influence.
 */
export function NodeReadings({
  view,
  node,
  probability,
}: {
  view: GraphView;
  node: number;
  probability: (p: number) => ReactNode;
}) {
  return (
    <>
      {view.kinds[node] === 'logit' && (
        <>
          <dt>Probability</dt>
          <dd>{probability(view.tokenProb[node])}</dd>
        </>
      )}
      <dt>Activation</dt>
      <dd>{formatNumber(view.activation[node])}</dd>
      <dt>Influence</dt>
      <dd>{formatNumber(view.influence[node])}</dd>
    </>
  );
}
