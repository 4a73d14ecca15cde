/**
 * Reading graph JSON files made here or elsewhere (circuit-tracer, Neuronpedia): a zod schema liberal about the
 * optional fields others add and strict about the required ones, and graph-metadata.json upserts. The format
 * itself is described at the top of json.ts.
 */
import { z } from 'zod';

// ---------------------------------------------------------------------------------------------------------------
// Import: liberal about the optional fields Neuronpedia and others add, strict about the required ones.

const num = z.number();
const nodeSchema = z.looseObject({
  node_id: z.string(),
  feature: z.number().int().nullable(),
  layer: z.union([z.string(), z.number().int()]),
  ctx_idx: z.number().int().nonnegative(),
  feature_type: z.string(),
  jsNodeId: z.string(),
  clerp: z.string(),
  token_prob: num.optional(),
  is_target_logit: z.boolean().optional(),
  run_idx: z.number().int().optional(),
  reverse_ctx_idx: z.number().int().optional(),
  influence: num.nullable().optional(),
  activation: num.nullable().optional(),
  inactive: z.literal(true).optional(),
  qk_tracing_results: z
    .looseObject({
      pair_wise_contributors: z.array(z.tuple([z.string(), z.string(), num])),
      top_q_marginal_contributors: z.array(z.tuple([z.string(), num])),
      top_k_marginal_contributors: z.array(z.tuple([z.string(), num])),
    })
    .optional(),
});

const linkSchema = z.looseObject({ source: z.string(), target: z.string(), weight: num });

const metadataSchema = z.looseObject({
  slug: z.string(),
  scan: z.string(),
  prompt_tokens: z.array(z.string()),
  prompt: z.string(),
  transcoder_list: z.array(z.string()).optional(),
  node_threshold: num.nullable().optional(),
  schema_version: z.number().int().nullable().optional(),
  feature_details: z
    .looseObject({
      feature_json_base_url: z.string().optional(),
      neuronpedia_source_set: z.string().optional(),
      neuronpedia_lorsa_source_set: z.string().optional(),
    })
    .optional(),
  info: z
    .looseObject({
      description: z.string().optional(),
      creator_name: z.string().optional(),
      creator_url: z.string().optional(),
      source_urls: z.array(z.string()).optional(),
      generator: z.looseObject({}).optional(),
      create_time_ms: num.optional(),
    })
    .optional(),
  generation_settings: z
    .looseObject({
      max_n_logits: z.number().int().optional(),
      desired_logit_prob: num.optional(),
      batch_size: z.number().int().optional(),
      max_feature_nodes: z.number().int().optional(),
    })
    .optional(),
  pruning_settings: z
    .looseObject({ node_threshold: num.optional(), edge_threshold: num.optional() })
    .optional(),
});

const qParamsSchema = z.looseObject({
  pinnedIds: z.array(z.string()).optional(),
  supernodes: z.array(z.array(z.string())).optional(),
  linkType: z.string().optional(),
  clickedId: z.string().optional(),
  sg_pos: z.string().optional(),
});

const qkOnlyNodeSchema = z.looseObject({
  node_id: z.string(),
  feature_type: z.string(),
  layer: z.union([z.string(), z.number().int()]),
  ctx_idx: z.number().int().nonnegative(),
  jsNodeId: z.string(),
  clerp: z.string(),
  feature: z.number().int().nullable().optional(),
  activation: num.nullable().optional(),
});

const qkSource = z.object({
  kind: z.enum(['feature', 'error', 'token', 'constant']),
  node_id: z.string().optional(),
  in_graph: z.boolean().optional(),
});
const qkSourceValue = z.object({ source: qkSource, value: num });
const qkEdgeSchema = z.object({
  layer: z.number().int().nonnegative(),
  head: z.number().int().nonnegative(),
  query: z.number().int().nonnegative(),
  key: z.number().int().nonnegative(),
  score: num,
  pattern: num,
  into: z.object({ node_id: z.string(), carried: num }).optional(),
  pairs: z.array(z.object({ q: qkSource, k: qkSource, value: num })),
  query_top: z.array(qkSourceValue),
  key_top: z.array(qkSourceValue),
});

const inactiveSchema = z.object({
  per_site: z.number().int().positive(),
  targets: z.array(z.object({ node_id: z.string(), pre_activation: num, inputs: num, bias: num })),
});

const countPair = z.object({ before: z.number().int(), after: z.number().int() });
const loupeSchema = z.looseObject({
  scores: z.object({ replacement: num.nullable(), completeness: num.nullable() }).optional(),
  pruning: z
    .object({
      node_threshold: num,
      edge_threshold: num,
      nodes: countPair,
      links: countPair,
      features: z.object({ active: z.number().int(), selected: z.number().int() }),
    })
    .optional(),
  bias: z
    .object({
      nodes: z.array(nodeSchema),
      links: z.array(linkSchema),
      targets: z.array(z.object({ node_id: z.string(), value: num, bias: num })),
    })
    .optional(),
  qk: z.array(qkEdgeSchema).optional(),
  inactive: inactiveSchema.optional(),
});

export const graphJsonSchema = z.looseObject({
  metadata: metadataSchema,
  qParams: qParamsSchema,
  nodes: z.array(nodeSchema),
  links: z.array(linkSchema),
  qk_only_nodes: z.record(z.string(), qkOnlyNodeSchema).optional(),
  loupe: loupeSchema.optional(),
});

export type ImportedGraphJson = z.infer<typeof graphJsonSchema>;

/** `prefix: path: message; path: message`, the first few issues of a failed parse. */
export function formatZodIssues(prefix: string, error: z.ZodError): string {
  const lines = error.issues.slice(0, 5).map((i) => {
    const path = i.path
      .map((p, j) => (typeof p === 'number' ? `[${p}]` : `${j === 0 ? '' : '.'}${String(p)}`))
      .join('');
    return `${path || '(root)'}: ${i.message}`;
  });
  const more = error.issues.length > 5 ? ` (and ${error.issues.length - 5} more)` : '';
  return `${prefix}: ${lines.join('; ')}${more}`;
}

/**
 * Parses and validates a graph JSON file: node ids are unique, every link names nodes that exist, and bias
 * links run from the extension's bias nodes to nodes of the graph.
 */
export function importGraphJson(text: string): ImportedGraphJson {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new Error(`graph JSON: not valid JSON (${(e as Error).message})`);
  }
  const parsed = graphJsonSchema.safeParse(raw);
  if (!parsed.success) throw new Error(formatZodIssues('graph JSON is invalid', parsed.error));
  const ids = new Set<string>();
  parsed.data.nodes.forEach((n, i) => {
    if (ids.has(n.node_id)) throw new Error(`graph JSON: nodes[${i}].node_id '${n.node_id}' is not unique`);
    ids.add(n.node_id);
  });
  parsed.data.links.forEach((l, i) => {
    if (!ids.has(l.source)) throw new Error(`graph JSON: links[${i}].source '${l.source}' is not a node_id`);
    if (!ids.has(l.target)) throw new Error(`graph JSON: links[${i}].target '${l.target}' is not a node_id`);
  });
  const bias = parsed.data.loupe?.bias;
  if (bias) {
    const biasIds = new Set<string>();
    bias.nodes.forEach((n, i) => {
      if (ids.has(n.node_id) || biasIds.has(n.node_id))
        throw new Error(`graph JSON: loupe.bias.nodes[${i}].node_id '${n.node_id}' is not unique`);
      biasIds.add(n.node_id);
    });
    bias.links.forEach((l, i) => {
      if (!biasIds.has(l.source))
        throw new Error(`graph JSON: loupe.bias.links[${i}].source '${l.source}' is not a bias node`);
      if (!ids.has(l.target))
        throw new Error(`graph JSON: loupe.bias.links[${i}].target '${l.target}' is not a node_id`);
    });
    bias.targets.forEach((t, i) => {
      if (!ids.has(t.node_id))
        throw new Error(`graph JSON: loupe.bias.targets[${i}].node_id '${t.node_id}' is not a node_id`);
    });
  }
  parsed.data.loupe?.inactive?.targets.forEach((t, i) => {
    if (!ids.has(t.node_id))
      throw new Error(`graph JSON: loupe.inactive.targets[${i}].node_id '${t.node_id}' is not a node_id`);
  });
  parsed.data.loupe?.qk?.forEach((e, i) => {
    if (e.key > e.query)
      throw new Error(`graph JSON: loupe.qk[${i}] has key ${e.key} after query ${e.query}`);
  });
  return parsed.data;
}

/** What a viewer reads of Loupe's extension fields: decomposed attention edges and the inactive features. */
export interface LoupeExtensions {
  qk: z.infer<typeof qkEdgeSchema>[];
  inactive: z.infer<typeof inactiveSchema>['targets'];
  /** Why the extension fields were left unread (malformed), or null; the graph itself stays readable. */
  problem: string | null;
}

/**
 * `loupe.qk` and `loupe.inactive` of a stored graph (any JSON value): graphs stored before these fields, or
 * written elsewhere, have neither; a malformed field is reported in `problem` instead of failing the graph.
 */
export function readLoupeExtensions(graph: unknown): LoupeExtensions {
  const loupe = (graph as { loupe?: unknown } | null)?.loupe;
  if (loupe === undefined || loupe === null) return { qk: [], inactive: [], problem: null };
  const parsed = z
    .looseObject({ qk: z.array(qkEdgeSchema).optional(), inactive: inactiveSchema.optional() })
    .safeParse(loupe);
  if (!parsed.success)
    return { qk: [], inactive: [], problem: formatZodIssues('graph JSON loupe is invalid', parsed.error) };
  return { qk: parsed.data.qk ?? [], inactive: parsed.data.inactive?.targets ?? [], problem: null };
}

// ---------------------------------------------------------------------------------------------------------------
// graph-metadata.json: {"graphs": [metadata, ...]}, one entry per slug.

const metadataFileSchema = z.looseObject({ graphs: z.array(z.looseObject({ slug: z.string() })) });
export type GraphMetadataFile = z.infer<typeof metadataFileSchema>;

/** add_graph_metadata as a pure function: drop the entry with the same slug, append the new one. */
export function upsertGraphMetadata(
  old: string | null | undefined,
  metadata: { slug: string; [k: string]: unknown },
): GraphMetadataFile {
  let file: GraphMetadataFile = { graphs: [] };
  if (old !== null && old !== undefined && old.trim() !== '') {
    let raw: unknown;
    try {
      raw = JSON.parse(old);
    } catch (e) {
      throw new Error(`graph-metadata.json: not valid JSON (${(e as Error).message})`);
    }
    const parsed = metadataFileSchema.safeParse(raw);
    if (!parsed.success) throw new Error(formatZodIssues('graph-metadata.json is invalid', parsed.error));
    file = parsed.data;
  }
  return { ...file, graphs: [...file.graphs.filter((g) => g.slug !== metadata.slug), metadata] };
}
