import { parseNodeId } from '@loupe/core';

/** A feature node's dictionary coordinates, under which its team label and feature page are kept. */
export interface FeatureKey {
  layer: number;
  featureIndex: number;
}

/** The feature a node id names, or null for tokens, errors, biases and ids the parser does not know. */
export function featureKeyOf(nodeId: string): FeatureKey | null {
  try {
    const p = parseNodeId(nodeId);
    return p.kind === 'indexed' ? { layer: p.layer, featureIndex: p.index } : null;
  } catch {
    return null;
  }
}
