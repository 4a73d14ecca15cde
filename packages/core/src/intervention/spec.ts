/**
 * Intervention specs (as circuit-tracer's: set feature F at layer L, position P to value V) and their
 * validation against a prompt, a model and a dictionary.
 * Everything here is plain data, so the worker and the web UI can send specs as JSON.
 */
import { z } from 'zod';
import type { Dictionary } from '../dictionary/types.ts';
import { type HookName, isResidualHook, parseHookName } from '../model/hooks.ts';

/**
 * Prompt positions: one index (negative counts from the end, −1 is the last token), a list, or a slice
 * [start, end). A slice without `end` is open-ended: while generating it also covers every new token.
 */
export type Positions = number | readonly number[] | { start: number; end?: number };

export type InterventionMode = 'constrained' | 'frozen-attention' | 'free';
export const INTERVENTION_MODES: readonly InterventionMode[] = ['constrained', 'frozen-attention', 'free'];

/** Set feature (layer, positions, feature) to an absolute post-activation value. */
export interface FeatureIntervention {
  /** Model layer of the dictionary encoder (the `layer` field of the dictionary layer). */
  layer: number;
  pos: Positions;
  feature: number;
  value: number;
}

/** A group of feature nodes, as the graph UI's supernodes hold them. */
export interface GroupMember {
  layer: number;
  pos: number;
  feature: number;
}
export interface FeatureGroup {
  label: string;
  members: GroupMember[];
}

/** Scale every member to factor × its clean activation (−2 suppresses, 5 amplifies, 0 ablates). */
export interface GroupScale {
  group: FeatureGroup;
  factor: number;
}

/** Add `scale · vector` at a hook (a decoder direction, a difference of means, any [width] vector). */
export interface SteeringVector {
  hook: HookName;
  /** Default: every position, including generated tokens. */
  pos?: Positions;
  vector: Float32Array | readonly number[]; // [dModel]
  scale?: number;
}

export interface InterventionSpec {
  features?: readonly FeatureIntervention[];
  scales?: readonly GroupScale[];
  steer?: readonly SteeringVector[];
}

/** True when the positions extend to tokens generated after the prompt. */
export function isOpenEnded(p: Positions | undefined): boolean {
  return (
    p === undefined ||
    (typeof p === 'object' && !Array.isArray(p) && (p as { end?: number }).end === undefined)
  );
}

/** Absolute prompt positions of a spec for a T-token prompt; throws naming any position outside it. */
export function resolvePositions(p: Positions | undefined, T: number, what: string): number[] {
  if (p === undefined) return [...Array(T).keys()];
  const one = (q: number): number => {
    if (!Number.isInteger(q)) throw new Error(`${what}: position ${q} is not an integer`);
    const r = q < 0 ? q + T : q;
    if (r < 0 || r >= T) throw new Error(`${what}: position ${q} is beyond the ${T}-token prompt`);
    return r;
  };
  if (typeof p === 'number') return [one(p)];
  if (Array.isArray(p)) return (p as readonly number[]).map(one);
  const { start, end } = p as { start: number; end?: number };
  const s = one(start);
  const e = end === undefined ? T : end;
  if (!Number.isInteger(e) || e < s || e > T)
    throw new Error(`${what}: slice [${start}, ${end}) does not fit a ${T}-token prompt`);
  return Array.from({ length: e - s }, (_, i) => s + i);
}

/** Index of the dictionary layer reading model layer `layer`; throws for a layer the dictionary lacks. */
export function dictionaryLayerIndex(dict: Dictionary, layer: number, what: string): number {
  const i = dict.layers.findIndex((l) => l.layer === layer);
  if (!Number.isInteger(layer) || i < 0) {
    const known = dict.layers.map((l) => l.layer).join(', ');
    throw new Error(`${what}: unknown layer ${layer} (the dictionary has layers ${known})`);
  }
  return i;
}

export function checkFeature(dict: Dictionary, feature: number, what: string): void {
  if (!Number.isInteger(feature) || feature < 0 || feature >= dict.dTc) {
    throw new Error(`${what}: feature index ${feature} is out of range [0, ${dict.dTc})`);
  }
}

export function checkValue(v: number, what: string): void {
  if (!Number.isFinite(v)) throw new Error(`${what}: value ${v} is not a finite number`);
}

export function checkSteering(s: SteeringVector, dModel: number, nLayers: number, what: string): void {
  const { layer, hook } = parseHookName(s.hook);
  if (layer >= nLayers)
    throw new Error(`${what}: hook '${s.hook}' names layer ${layer}, the model has ${nLayers}`);
  if (!isResidualHook(hook)) {
    throw new Error(
      `${what}: cannot add a vector at '${s.hook}' (only [T, d_model] residual-space hooks take steering vectors)`,
    );
  }
  if (s.vector.length !== dModel)
    throw new Error(`${what}: vector has ${s.vector.length} values, expected ${dModel}`);
  if (!Array.from(s.vector).every(Number.isFinite)) throw new Error(`${what}: vector has non-finite values`);
  if (s.scale !== undefined) checkValue(s.scale, what);
}

const NODE_ID = /^(\d+)_(\d+)_(\d+)$/;

/** Parses a graph feature node id `{layer}_{feature}_{pos}` (circuit-tracer / Neuronpedia JSON). */
export function parseFeatureNodeId(id: string): GroupMember {
  const m = NODE_ID.exec(id);
  if (!m) throw new Error(`'${id}' is not a feature node id ({layer}_{feature}_{pos})`);
  return { layer: Number(m[1]), feature: Number(m[2]), pos: Number(m[3]) };
}

const memberSchema = z.union([
  z.string(),
  z.object({
    layer: z.number().int().nonnegative(),
    pos: z.number().int().nonnegative(),
    feature: z.number().int().nonnegative(),
  }),
]);
const groupSchema = z.union([
  z.object({ label: z.string().default('supernode'), nodeIds: z.array(memberSchema).min(1) }),
  z.object({ label: z.string().default('supernode'), members: z.array(memberSchema).min(1) }),
  // The graph URL's qParams form: [label, ...nodeIds].
  z.tuple([z.string()], z.string()).refine((t) => t.length >= 2, 'a supernode needs at least one node id'),
]);

/**
 * Parses a supernode group file: `{label, nodeIds: [...]}`, `{label, members: [...]}` or `[label, ...nodeIds]`,
 * members being node ids `{layer}_{feature}_{pos}` or `{layer, pos, feature}` objects.
 */
export function parseFeatureGroup(json: unknown, what = 'group file'): FeatureGroup {
  const r = groupSchema.safeParse(json);
  if (!r.success) {
    const issue = r.error.issues[0];
    throw new Error(`${what}: malformed supernode (${issue.path.join('.') || 'root'}: ${issue.message})`);
  }
  const g = r.data;
  const label = Array.isArray(g) ? g[0] : g.label;
  const raw: z.infer<typeof memberSchema>[] = Array.isArray(g)
    ? g.slice(1)
    : 'nodeIds' in g
      ? g.nodeIds
      : g.members;
  const members = raw.map((m) => {
    if (typeof m !== 'string') return m;
    try {
      return parseFeatureNodeId(m);
    } catch (e) {
      throw new Error(`${what}: ${(e as Error).message}`);
    }
  });
  return { label, members };
}

const SET_SPEC = /^\s*(\d+)\s*:\s*(-?\d+|\d*\s*\.\.\s*\d*)\s*:\s*(\d+)\s*=\s*(\S+)\s*$/;

/**
 * Parses a CLI `--set L:P:F=V`: P is an index (−1 is the last token) or a slice `a..b`, `a..` (open-ended,
 * also steering generated tokens) or `..` (every position).
 */
export function parseSetSpec(s: string): FeatureIntervention {
  const m = SET_SPEC.exec(s);
  if (!m) throw new Error(`--set '${s}': expected LAYER:POS:FEATURE=VALUE, e.g. 3:-1:120=0 or 3:2..:120=5`);
  const value = Number(m[4]);
  if (!Number.isFinite(value)) throw new Error(`--set '${s}': value '${m[4]}' is not a number`);
  return { layer: Number(m[1]), pos: positionsOf(m[2]), feature: Number(m[3]), value };
}

/** An index (−1 is the last token) or a slice `a..b`, `a..`, `..`, already matched by the caller's pattern. */
function positionsOf(p: string): Positions {
  if (!p.includes('..')) return Number(p);
  const [a, b] = p.split('..').map((x) => x.trim());
  const start = a === '' ? 0 : Number(a);
  return b === '' ? { start } : { start, end: Number(b) };
}

/** Steering along a feature's decoder direction: `scale · W_dec[layer, feature]` added at `pos`. */
export interface DecoderSteerSpec {
  layer: number;
  feature: number;
  scale: number;
  /** Default: every position, generated tokens included. */
  pos?: Positions;
}

/** `*SCALE[@POS]`, the tail every steering flag shares: groups (scale, positions). */
const SCALE_AT = String.raw`\*\s*(\S+?)\s*(?:@\s*(-?\d+|\d*\s*\.\.\s*\d*))?\s*$`;
const STEER_SPEC = new RegExp(String.raw`^\s*(\d+)\s*:\s*(\d+)\s*` + SCALE_AT);
const STEER_DIFF_SPEC = new RegExp(String.raw`^\s*(\d+)\s*` + SCALE_AT);
const STEER_VECTOR_SPEC = new RegExp(String.raw`^\s*(\d+)\s*:\s*(.+?)(?:#([\w.-]+))?\s*` + SCALE_AT);

/** The scale and optional positions of a steering flag, from the two groups SCALE_AT captured. */
function scaleAt(flag: string, s: string, scale: string, pos: string | undefined) {
  const value = Number(scale);
  if (!Number.isFinite(value)) throw new Error(`${flag} '${s}': scale '${scale}' is not a number`);
  return pos === undefined ? { scale: value } : { scale: value, pos: positionsOf(pos) };
}

/**
 * Parses a CLI `--steer LAYER:FEATURE*SCALE[@POS]`, POS as in --set (an index or a slice); without it every
 * position, generated tokens included.
 */
export function parseSteerSpec(s: string): DecoderSteerSpec {
  const m = STEER_SPEC.exec(s);
  if (!m) {
    throw new Error(
      `--steer '${s}': expected LAYER:FEATURE*SCALE or LAYER:FEATURE*SCALE@POS, e.g. 3:120*8 or 3:120*-4@-1`,
    );
  }
  return { layer: Number(m[1]), feature: Number(m[2]), ...scaleAt('--steer', s, m[3], m[4]) };
}

/** Steering along a residual-stream direction: `scale · direction` added at layer `layer`'s residual output. */
export interface ResidualSteerSpec {
  layer: number;
  scale: number;
  /** Default: every position, generated tokens included. */
  pos?: Positions;
}

/** Parses a CLI `--steer-diff LAYER*SCALE[@POS]` (the direction comes from the prompt sets). */
export function parseSteerDiffSpec(s: string): ResidualSteerSpec {
  const m = STEER_DIFF_SPEC.exec(s);
  if (!m)
    throw new Error(`--steer-diff '${s}': expected LAYER*SCALE or LAYER*SCALE@POS, e.g. 2*-1 or 2*4@-1`);
  return { layer: Number(m[1]), ...scaleAt('--steer-diff', s, m[2], m[3]) };
}

/** A saved direction: the tensor `tensor` of a safetensors file (default: its only tensor). */
export interface VectorSteerSpec extends ResidualSteerSpec {
  file: string;
  tensor?: string;
}

/** Parses a CLI `--steer-vector LAYER:FILE[#TENSOR]*SCALE[@POS]`. */
export function parseSteerVectorSpec(s: string): VectorSteerSpec {
  const m = STEER_VECTOR_SPEC.exec(s);
  if (!m) {
    throw new Error(
      `--steer-vector '${s}': expected LAYER:FILE[#TENSOR]*SCALE[@POS], e.g. 2:dir.safetensors*4 or 2:out.safetensors#steer_diff_L2*-1@-1`,
    );
  }
  return {
    layer: Number(m[1]),
    file: m[2],
    ...(m[3] === undefined ? {} : { tensor: m[3] }),
    ...scaleAt('--steer-vector', s, m[4], m[5]),
  };
}

const PATCH_POSITIONS = /^\s*(-?\d+)\s*:\s*(-?\d+)\s*$/;

/** Parses a CLI `--patch-positions FROM:TO`: a source position of the patched-from prompt → one of the prompt. */
export function parsePatchPositions(s: string): { from: number; to: number } {
  const m = PATCH_POSITIONS.exec(s);
  if (!m) throw new Error(`--patch-positions '${s}': expected FROM:TO positions, e.g. -1:-1 or 3:4`);
  return { from: Number(m[1]), to: Number(m[2]) };
}

const positionsSchema = z.union([
  z.number().int(),
  z.array(z.number().int()).min(1),
  z.object({ start: z.number().int(), end: z.number().int().optional() }),
]);
const hookSchema = z.string().refine(
  (h) => {
    try {
      parseHookName(h);
      return true;
    } catch {
      return false;
    }
  },
  { message: 'unknown hook point' },
);

/** Validates an InterventionSpec arriving as JSON (API, worker jobs, saved experiments). */
export const interventionSpecSchema = z.object({
  features: z
    .array(
      z.object({
        layer: z.number().int().nonnegative(),
        pos: positionsSchema,
        feature: z.number().int().nonnegative(),
        value: z.number(),
      }),
    )
    .max(100_000)
    .optional(),
  scales: z
    .array(
      z.object({
        group: z.object({
          label: z.string(),
          members: z
            .array(
              z.object({
                layer: z.number().int().nonnegative(),
                pos: z.number().int().nonnegative(),
                feature: z.number().int().nonnegative(),
              }),
            )
            .min(1)
            .max(100_000),
        }),
        factor: z.number(),
      }),
    )
    .max(1000)
    .optional(),
  steer: z
    .array(
      z.object({
        hook: hookSchema.transform((h) => h as HookName),
        pos: positionsSchema.optional(),
        vector: z.array(z.number()).min(1).max(65_536),
        scale: z.number().optional(),
      }),
    )
    .max(1000)
    .optional(),
});

/** Parses a JSON intervention spec; throws naming the first problem. */
export function parseInterventionSpec(json: unknown): InterventionSpec {
  const r = interventionSpecSchema.safeParse(json);
  if (!r.success) {
    const issue = r.error.issues[0];
    throw new Error(`intervention spec: ${issue.path.join('.') || 'root'}: ${issue.message}`);
  }
  return r.data;
}
