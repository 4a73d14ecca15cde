/**
 * The circuit-tracer frontend's URL state (pinned nodes, supernodes, clerps) and node-id parsing, for links into
 * a graph JSON file's view.
 */
import { z } from 'zod';
import { formatZodIssues } from './json-import.ts';

// ---------------------------------------------------------------------------------------------------------------
// URL state (qParams) shared with circuit-tracer's frontend and Neuronpedia.

export interface Supernode {
  label: string;
  nodeIds: string[];
}

export interface Clerp {
  /** Feature key as the frontend wrote it (circuit-tracer: "layer_feature"; Neuronpedia: its own encoding). */
  featureId: string;
  label: string;
}

export interface GraphUrlState {
  pinnedIds: string[];
  supernodes: Supernode[];
  clerps: Clerp[];
  clickedId?: string;
  linkType?: string;
  sg_pos?: string;
  pruningThreshold?: number;
  densityThreshold?: number;
}

/**
 * 'indexed' is every `{layer}_{index}_{pos}` id: a feature or a logit in Loupe's format; in circuit-tracer's
 * also an error `0_{layer}_{pos}`, which the id alone cannot tell from a layer-0 feature (read feature_type).
 * A bias site's layer is −1 at the embedding level ('E').
 */
export type ParsedNodeId =
  | { kind: 'embedding'; tokenId: number; pos: number }
  | { kind: 'indexed'; layer: number; index: number; pos: number }
  | { kind: 'error'; layer: number; pos: number }
  | { kind: 'bias'; layer: number; pos: number };

/** "E_{token}_{pos}", "{layer}_{index}_{pos}", "err_{layer}_{pos}" or "bias_{layer|E}_{pos}". */
export function parseNodeId(id: string): ParsedNodeId {
  const e = /^E_(\d+)_(\d+)$/.exec(id);
  if (e) return { kind: 'embedding', tokenId: Number(e[1]), pos: Number(e[2]) };
  const m = /^(\d+)_(\d+)_(\d+)$/.exec(id);
  if (m) return { kind: 'indexed', layer: Number(m[1]), index: Number(m[2]), pos: Number(m[3]) };
  const r = /^err_(\d+)_(\d+)$/.exec(id);
  if (r) return { kind: 'error', layer: Number(r[1]), pos: Number(r[2]) };
  const b = /^bias_(\d+|E)_(\d+)$/.exec(id);
  if (b) return { kind: 'bias', layer: b[1] === 'E' ? -1 : Number(b[1]), pos: Number(b[2]) };
  throw new Error(
    `node id '${id}' is none of E_{token}_{pos}, {layer}_{index}_{pos}, err_{layer}_{pos}, bias_{layer}_{pos}`,
  );
}

function parseJsonParam<T>(name: string, text: string, schema: z.ZodType<T>): T {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new Error(`URL parameter ${name} is not valid JSON`);
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) throw new Error(formatZodIssues(`URL parameter ${name} is invalid`, parsed.error));
  return parsed.data;
}

const supernodesParam = z.array(z.array(z.string()).min(1));
const clerpsParam = z.array(z.tuple([z.union([z.string(), z.number()]), z.string()]));

function threshold(name: string, v: string | null): number | undefined {
  if (v === null || v === '') return undefined;
  const x = Number(v);
  if (!Number.isFinite(x) || x < 0 || x > 1)
    throw new Error(`URL parameter ${name} must be a number in [0, 1], got '${v}'`);
  return x;
}

export function parseGraphUrlState(query: string | URLSearchParams): GraphUrlState {
  const q = typeof query === 'string' ? new URLSearchParams(query) : query;
  const pinned = q.get('pinnedIds');
  const sn = q.get('supernodes');
  const cl = q.get('clerps');
  const state: GraphUrlState = {
    pinnedIds: pinned ? pinned.split(',').filter((s) => s !== '') : [],
    supernodes: sn
      ? parseJsonParam('supernodes', sn, supernodesParam).map(([label, ...nodeIds]) => ({ label, nodeIds }))
      : [],
    clerps: cl
      ? parseJsonParam('clerps', cl, clerpsParam).map(([f, label]) => ({ featureId: String(f), label }))
      : [],
  };
  for (const key of ['clickedId', 'linkType', 'sg_pos'] as const) {
    const v = q.get(key);
    if (v !== null) state[key] = v;
  }
  const pt = threshold('pruningThreshold', q.get('pruningThreshold'));
  if (pt !== undefined) state.pruningThreshold = pt;
  const dt = threshold('densityThreshold', q.get('densityThreshold'));
  if (dt !== undefined) state.densityThreshold = dt;
  return state;
}

export function serializeGraphUrlState(s: GraphUrlState): URLSearchParams {
  const q = new URLSearchParams();
  if (s.pinnedIds.length > 0) q.set('pinnedIds', s.pinnedIds.join(','));
  if (s.supernodes.length > 0)
    q.set('supernodes', JSON.stringify(s.supernodes.map((x) => [x.label, ...x.nodeIds])));
  if (s.clerps.length > 0) q.set('clerps', JSON.stringify(s.clerps.map((c) => [c.featureId, c.label])));
  if (s.clickedId !== undefined) q.set('clickedId', s.clickedId);
  if (s.linkType !== undefined) q.set('linkType', s.linkType);
  if (s.sg_pos !== undefined) q.set('sg_pos', s.sg_pos);
  if (s.pruningThreshold !== undefined) q.set('pruningThreshold', String(s.pruningThreshold));
  if (s.densityThreshold !== undefined) q.set('densityThreshold', String(s.densityThreshold));
  return q;
}
