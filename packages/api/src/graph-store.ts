import type { Prisma } from '@loupe/db';
import { z } from 'zod';
import { putJsonBlob } from './blob.ts';

// circuit-tracer / Neuronpedia graph JSON: only the node fields we index are checked; the rest is kept as-is.
const graphNode = z
  .object({
    node_id: z.string().min(1).max(200),
    feature_type: z.string().max(100).optional(),
    layer: z.union([z.string().max(20), z.number().int()]).optional(),
    feature: z.number().int().nullable().optional(),
    ctx_idx: z.number().int().nullable().optional(),
    activation: z.number().nullable().optional(),
    influence: z.number().nullable().optional(),
    clerp: z.string().max(2000).nullable().optional(),
  })
  .passthrough();

export const graphJson = z
  .object({
    nodes: z.array(graphNode).max(200_000),
    links: z.array(z.unknown()).max(5_000_000),
  })
  .passthrough();

export type GraphJson = z.infer<typeof graphJson>;

type Tx = Pick<Prisma.TransactionClient, 'blob' | 'graph' | 'graphNode'>;

function nodeKind(featureType: string | undefined): string {
  const t = (featureType ?? '').toLowerCase();
  if (t.includes('error')) return 'error';
  if (t.includes('embedding')) return 'embedding';
  if (t.includes('logit')) return 'logit';
  if (t.includes('transcoder') || t.includes('feature') || t.includes('sae')) return 'feature';
  return t || 'unknown';
}

function parseLayer(layer: string | number | undefined): number | null {
  if (typeof layer === 'number') return layer;
  if (layer !== undefined && /^\d+$/.test(layer)) return Number(layer);
  return null;
}

export interface GraphMeta {
  teamId: string;
  prompt: string;
  modelId?: string | null;
  dictionaryId?: string | null;
  slug?: string | null;
  jobId?: string | null;
  createdById?: string | null;
}

/** Stores the payload compressed in a blob and one queryable summary row per node. */
export async function storeGraph(tx: Tx, meta: GraphMeta, graph: GraphJson) {
  const seen = new Set<string>();
  for (const n of graph.nodes) {
    if (seen.has(n.node_id)) throw new Error(`graph has duplicate node_id "${n.node_id}"`);
    seen.add(n.node_id);
  }
  const blobId = await putJsonBlob(tx, meta.teamId, graph);
  const row = await tx.graph.create({
    data: {
      teamId: meta.teamId,
      prompt: meta.prompt,
      modelId: meta.modelId ?? null,
      dictionaryId: meta.dictionaryId ?? null,
      slug: meta.slug ?? null,
      jobId: meta.jobId ?? null,
      createdById: meta.createdById ?? null,
      nodeCount: graph.nodes.length,
      linkCount: graph.links.length,
      blobId,
    },
  });
  const chunk = 2000;
  for (let i = 0; i < graph.nodes.length; i += chunk) {
    await tx.graphNode.createMany({
      data: graph.nodes.slice(i, i + chunk).map((n) => ({
        graphId: row.id,
        nodeId: n.node_id,
        kind: nodeKind(n.feature_type),
        layer: parseLayer(n.layer),
        featureIndex: n.feature ?? null,
        ctxIdx: n.ctx_idx ?? null,
        activation: n.activation ?? null,
        influence: n.influence ?? null,
        label: n.clerp ?? null,
      })),
    });
  }
  return row;
}

export function publicGraph(g: {
  id: string;
  teamId: string;
  modelId: string | null;
  dictionaryId: string | null;
  prompt: string;
  slug: string | null;
  nodeCount: number;
  linkCount: number;
  jobId: string | null;
  createdAt: Date;
}) {
  return {
    id: g.id,
    teamId: g.teamId,
    modelId: g.modelId,
    dictionaryId: g.dictionaryId,
    prompt: g.prompt,
    slug: g.slug,
    nodeCount: g.nodeCount,
    linkCount: g.linkCount,
    jobId: g.jobId,
    createdAt: g.createdAt,
  };
}
