/**
 * The shapes of a graph JSON file (nodes, links, metadata and Loupe's `loupe` extension), apart from the code
 * that writes them (json.ts) and reads them (json-import.ts).
 */
/**
 * circuit-tracer's frontend opens a feature's details only for 'cross layer transcoder', whatever the
 * dictionary was; Loupe's format names the kind, the circuit-tracer format keeps that string for its readers.
 */
export type FeatureType =
  | 'per layer transcoder'
  | 'cross layer transcoder'
  | 'sparse autoencoder'
  | 'transcoder'
  | 'mlp reconstruction error'
  | 'embedding'
  | 'logit'
  | 'bias';

export type NodeIdFormat = 'loupe' | 'circuit-tracer';

export interface GraphJsonNode {
  node_id: string;
  feature: number;
  layer: string;
  ctx_idx: number;
  feature_type: FeatureType;
  token_prob: number;
  is_target_logit: boolean;
  run_idx: number;
  reverse_ctx_idx: number;
  jsNodeId: string;
  clerp: string;
  influence: number | null;
  activation: number | null;
  /** A feature that does not fire here, shown for the inhibition it receives (loupe.inactive). */
  inactive?: true;
}

export interface GraphJsonLink {
  source: string;
  target: string;
  weight: number;
}

export interface GraphJsonMetadata {
  slug: string;
  scan: string;
  transcoder_list: string[];
  prompt_tokens: string[];
  prompt: string;
  node_threshold: number | null;
  schema_version: number;
  [extra: string]: unknown;
}

export interface GraphJsonQParams {
  pinnedIds: string[];
  supernodes: string[][];
  linkType: string;
  clickedId: string;
  sg_pos: string;
}

/** A target node of the file (feature or logit) and what its inputs must add up to. */
export interface GraphJsonBiasTarget {
  node_id: string;
  /** The target's value in the linearised model (feature pre-activation, or v·x for a logit target). */
  value: number;
  /** The sum of all bias sites' contributions to it, linked or not. */
  bias: number;
}

export interface GraphJsonBias {
  /** feature_type 'bias'; layer 'E' (learned positions), '0'..'L-1', or 'L' (the final norm). */
  nodes: GraphJsonNode[];
  /** From bias nodes to the feature and logit nodes of the file; every non-zero contribution. */
  links: GraphJsonLink[];
  targets: GraphJsonBiasTarget[];
}

/** What pruning kept: the unpruned graph's nodes and non-zero links against the file's. */
export interface GraphJsonPruning {
  node_threshold: number;
  edge_threshold: number;
  nodes: { before: number; after: number };
  links: { before: number; after: number };
  /** Active features of the prompt, and those whose rows the graph computed (maxFeatureNodes). */
  features: { active: number; selected: number };
}

/** A query- or key-side source: a node (in_graph: whether the file holds it) or the constants. */
export interface GraphJsonQkSource {
  kind: 'feature' | 'error' | 'token' | 'constant';
  node_id?: string;
  in_graph?: boolean;
}

/** One attention edge (head `head` of layer `layer`, query position attending to key position). */
export interface GraphJsonQkEdge {
  layer: number;
  head: number;
  query: number;
  key: number;
  /** q·k with the attention scale, before any softcap, and the clean pattern value. */
  score: number;
  pattern: number;
  /** For edges ranked into a node: that node and what the edge carries into its input. */
  into?: { node_id: string; carried: number };
  /** The largest q_s·k_s' terms. */
  pairs: { q: GraphJsonQkSource; k: GraphJsonQkSource; value: number }[];
  query_top: { source: GraphJsonQkSource; value: number }[];
  key_top: { source: GraphJsonQkSource; value: number }[];
}

export interface GraphJsonInactive {
  /** Features added per (layer, position). */
  per_site: number;
  /** inputs (from every node, linked or not) + bias = pre_activation. */
  targets: { node_id: string; pre_activation: number; inputs: number; bias: number }[];
}

/** Loupe's extension fields; readers of circuit-tracer's format ignore the key. */
export interface GraphJsonLoupe {
  bias?: GraphJsonBias;
  qk?: GraphJsonQkEdge[];
  inactive?: GraphJsonInactive;
  /** Replacement and completeness of the unpruned graph (JSON null where a score is NaN). */
  scores?: { replacement: number | null; completeness: number | null };
  pruning?: GraphJsonPruning;
}

export interface GraphJson {
  metadata: GraphJsonMetadata;
  qParams: GraphJsonQParams;
  nodes: GraphJsonNode[];
  links: GraphJsonLink[];
  loupe?: GraphJsonLoupe;
}

/** An error node whose circuit-tracer id belongs to a layer-0 feature, and the id it was written with. */
export interface NodeIdCollision {
  node_id: string;
  layer: number;
  ctx_idx: number;
  error_node_id: string;
}
