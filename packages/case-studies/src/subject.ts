/**
 * A shipped organism with one of its shipped dictionaries, loaded as the CLI loads them, plus the small
 * prompt and intervention helpers every case study uses.
 */
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import {
  type Dictionary,
  type InterventionMode,
  type InterventionSpec,
  Intervener,
  loadCheckpoint,
  loadDictionary,
  Model,
  type Runtime,
  type Tokenizer,
  validateAgainstModel,
} from '@loupe/core';
import { nodeFiles, nodeRuntime } from '@loupe/core/node';
import { type ShippedOrganism, shippedModelDir } from '@loupe/organism/node';
import { argmax, softmax } from './stats.ts';

export type DictionaryKind = 'plt' | 'clt';

export interface Subject {
  /** `organism-m/plt` and the like. */
  name: string;
  organism: ShippedOrganism;
  kind: DictionaryKind;
  model: Model;
  dict: Dictionary;
  iv: Intervener;
  tokenizer: Tokenizer;
  runtime: Runtime;
}

/**
 * Interventions run with attention patterns frozen and everything downstream recomputed, so a feature's
 * effect reaches later layers and positions through the model's own MLPs.
 */
export const MODE: InterventionMode = 'frozen-attention';

async function dictionaryDir(modelDir: string, kind: DictionaryKind): Promise<string> {
  const dir = path.join(modelDir, 'dictionaries');
  const found = (await readdir(dir)).filter((f) => f.startsWith(`${kind}-`));
  if (found.length !== 1)
    throw new Error(`${modelDir}: expected one ${kind}-* dictionary in ${dir}, found ${found.length}`);
  return path.join(dir, found[0]);
}

/**
 * The shipped organism with its shipped dictionary of this kind; with `modelDir`, another checkpoint with
 * its own `dictionaries/KIND-*` (a retrained variant) stands in for that organism, named after its folder.
 */
export async function loadSubject(
  organism: ShippedOrganism,
  kind: DictionaryKind,
  modelDir?: string,
): Promise<Subject> {
  const files = nodeFiles();
  const dir = modelDir ?? shippedModelDir(organism);
  const ckpt = await loadCheckpoint(dir, files);
  if (!ckpt.tokenizer) throw new Error(`${dir}: the organism has no tokenizer`);
  const dict = await loadDictionary(await dictionaryDir(dir, kind), files);
  validateAgainstModel(dict, ckpt.config);
  const runtime = nodeRuntime();
  const model = await Model.create(ckpt.config, ckpt.weights, ckpt.tokenizer, runtime);
  return {
    name: `${modelDir ? path.basename(path.resolve(modelDir)) : organism}/${kind}`,
    organism,
    kind,
    model,
    dict,
    iv: Intervener.create(model, dict),
    tokenizer: ckpt.tokenizer,
    runtime,
  };
}

export async function releaseSubject(s: Subject): Promise<void> {
  await s.dict.close();
  await s.runtime.release();
}

/** The prompt's tokens with the BOS the organism was trained with. */
export function encode(s: Subject, text: string): Int32Array {
  const ids = s.tokenizer.encode(text);
  const out = new Int32Array(ids.length + 1);
  out[0] = s.tokenizer.bosId ?? 1;
  out.set(ids, 1);
  return out;
}

/** The id of a text that must be exactly one token. */
export function tokenId(s: Subject, text: string): number {
  const ids = s.tokenizer.encode(text);
  if (ids.length !== 1) throw new Error(`'${text}' is ${ids.length} tokens, not one`);
  return ids[0];
}

/** Position (in encode()'s tokens) of the first occurrence of a one-token text. */
export function positionOf(s: Subject, tokens: Int32Array, text: string): number {
  const id = tokenId(s, text);
  const p = tokens.indexOf(id);
  if (p < 0) throw new Error(`'${text}' does not occur in the prompt`);
  return p;
}

export interface NextToken {
  /** Next-token distribution at the last position, clean and intervened. */
  clean: Float64Array;
  after: Float64Array;
  cleanTop: number;
  afterTop: number;
}

/** The last position's next-token distribution with and without `spec`. */
export async function nextToken(s: Subject, tokens: Int32Array, spec: InterventionSpec): Promise<NextToken> {
  const r = await s.iv.intervene(tokens, spec, { mode: MODE, topK: 1 });
  const V = s.model.config.dVocab;
  const T = tokens.length;
  const clean = softmax(r.cleanLogits.data.subarray((T - 1) * V, T * V));
  const after = softmax(r.logits.data.subarray((T - 1) * V, T * V));
  return { clean, after, cleanTop: argmax(clean), afterTop: argmax(after) };
}

/** Greedy continuation of up to `n` tokens, stopping after `stop`, with `spec` applied to the prompt pass. */
export async function continuation(
  s: Subject,
  tokens: Int32Array,
  spec: InterventionSpec,
  n: number,
  stop: string,
): Promise<{ clean: string; after: string }> {
  const g = await s.iv.generate(tokens, spec, {
    mode: MODE,
    maxNewTokens: n,
    stopTokens: [tokenId(s, stop)],
    topK: 1,
  });
  return {
    clean: s.tokenizer.decode(g.report.clean.tokens),
    after: s.tokenizer.decode(g.report.intervened.tokens),
  };
}
