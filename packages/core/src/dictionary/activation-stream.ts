/** Activation rows for dictionary training: the hook-only forward pass, the row stream and its shuffle buffer. */
import type { HookName } from '../model/hooks.ts';
import { blockHook } from '../model/hooks.ts';
import { seededRandom } from '../model/init.ts';
import type { Model } from '../model/model.ts';
import { buildTransformer } from '../model/transformer.ts';
import { GraphBuilder, type Tensor } from '../tensor/graph.ts';
import { type F32, i32 } from '../tensor/host.ts';
import type { Runtime } from '../tensor/runtime.ts';
import type { DictionaryHooks } from './types.ts';
import type { TokenBatches } from './train-options.ts';
const modelIds = new WeakMap<Model, number>();
let nextModelId = 0;

/**
 * The model's forward pass up to the given hooks only: no unembedding, no layers after the last hook (the
 * compiler keeps only what the outputs need). Returns each hook as [B, T, ...] for equal-length sequences.
 */
export async function hookRunner(
  runtime: Runtime,
  model: Model,
  hooks: readonly HookName[],
): Promise<(seqs: readonly Int32Array[]) => Promise<Map<HookName, F32>>> {
  const wanted = [...new Set(hooks)].sort();
  for (const h of wanted) model.hookShape(h, 1);
  let id = modelIds.get(model);
  if (id === undefined) modelIds.set(model, (id = nextModelId++));
  const graph = await runtime.graph(`dictionary-hooks:${id}:${wanted.join(',')}`, () => {
    const g = new GraphBuilder();
    const tokens = g.input('tokens', 'int32', ['B', 'T']);
    const out = buildTransformer(g, model.config, model.constants(g), tokens);
    return g.compile(Object.fromEntries(wanted.map((h) => [h, out.hooks.get(h) as Tensor])));
  });
  const { nCtx, dVocab } = model.config;
  return async (seqs) => {
    if (seqs.length === 0) throw new Error('no sequences given');
    const T = seqs[0].length;
    if (T === 0) throw new Error('empty token sequence');
    if (T > nCtx) throw new Error(`${T} tokens exceed the context length ${nCtx}`);
    const data = new Int32Array(seqs.length * T);
    seqs.forEach((s, b) => {
      if (s.length !== T) throw new Error(`batch sequences differ in length (${s.length} vs ${T})`);
      for (const t of s) if (!(t >= 0 && t < dVocab)) throw new Error(`token ${t} outside [0, ${dVocab})`);
      data.set(s, b * T);
    });
    const res = await graph.run({ tokens: i32([seqs.length, T], data) });
    return new Map(wanted.map((h) => [h, res[h] as F32]));
  };
}

/**
 * Activation rows streamed from the model: x [N, L, d] (input hooks) and y [N, L, d] (output hooks), only at
 * positions whose token is not excluded.
 */
export class ActivationStream {
  private readonly iterator: Iterator<Int32Array[]> | AsyncIterator<Int32Array[]>;
  readonly inHooks: HookName[];
  readonly outHooks: HookName[];
  /** Model batches consumed. */
  batches = 0;

  constructor(
    private readonly model: Model,
    private readonly run: (seqs: readonly Int32Array[]) => Promise<Map<HookName, F32>>,
    source: TokenBatches,
    layers: readonly number[],
    hooks: DictionaryHooks,
    private readonly exclude: ReadonlySet<number>,
  ) {
    this.iterator =
      Symbol.asyncIterator in source ? source[Symbol.asyncIterator]() : source[Symbol.iterator]();
    this.inHooks = layers.map((l) => blockHook(l, hooks.input));
    this.outHooks = layers.map((l) => blockHook(l, hooks.output));
  }

  get sameHooks(): boolean {
    return this.inHooks.every((h, i) => h === this.outHooks[i]);
  }

  /** The next batch's kept rows; throws when the source ends. */
  async next(): Promise<{ x: Float32Array; y: Float32Array; n: number }> {
    const r = await this.iterator.next();
    if (r.done)
      throw new Error(`the token source ended after ${this.batches} batches; training needs more data`);
    const seqs = r.value;
    this.batches++;
    const cache = await this.run(seqs);
    const T = seqs[0].length;
    const d = this.model.config.dModel;
    const L = this.inHooks.length;
    const keep: number[] = [];
    seqs.forEach((s, b) => {
      for (let t = 0; t < T; t++) if (!this.exclude.has(s[t])) keep.push(b * T + t);
    });
    const gather = (hooks: HookName[]) => {
      const out = new Float32Array(keep.length * L * d);
      hooks.forEach((h, l) => {
        const src = (cache.get(h) as F32).data;
        keep.forEach((p, i) => {
          out.set(src.subarray(p * d, (p + 1) * d), (i * L + l) * d);
        });
      });
      return out;
    };
    const x = gather(this.inHooks);
    return { x, y: this.sameHooks ? x : gather(this.outHooks), n: keep.length };
  }
}

/** A shuffle buffer of (x, y) rows, each row [L, d] for x and y. */
export class RowBuffer {
  private readonly x: Float32Array;
  private readonly y: Float32Array;
  private size = 0;
  private served = 0;
  private readonly random: () => number;

  constructor(
    readonly capacity: number,
    private readonly rowLen: number,
    private readonly same: boolean,
    seed: number,
  ) {
    this.x = new Float32Array(capacity * rowLen);
    this.y = same ? this.x : new Float32Array(capacity * rowLen);
    this.random = seededRandom(seed);
  }

  /** Tops the buffer up from the stream and shuffles it. */
  async fill(stream: ActivationStream, signal?: AbortSignal): Promise<void> {
    let stalled = 0;
    while (this.size < this.capacity) {
      signal?.throwIfAborted();
      const b = await stream.next();
      if (b.n === 0 && ++stalled > 100)
        throw new Error('100 token batches in a row had no usable position (all excluded)');
      const n = Math.min(b.n, this.capacity - this.size);
      this.x.set(b.x.subarray(0, n * this.rowLen), this.size * this.rowLen);
      if (!this.same) this.y.set(b.y.subarray(0, n * this.rowLen), this.size * this.rowLen);
      this.size += n;
    }
    this.shuffle();
    this.served = 0;
  }

  private shuffle(): void {
    const len = this.rowLen;
    const tmp = new Float32Array(len);
    const swap = (a: Float32Array, i: number, j: number) => {
      tmp.set(a.subarray(i * len, (i + 1) * len));
      a.copyWithin(i * len, j * len, (j + 1) * len);
      a.set(tmp, j * len);
    };
    for (let i = this.size - 1; i > 0; i--) {
      const j = Math.floor(this.random() * (i + 1));
      swap(this.x, i, j);
      if (!this.same) swap(this.y, i, j);
    }
  }

  /** Whether `n` more rows can be served before a refill (at most half the buffer is served per fill). */
  canTake(n: number): boolean {
    return this.served + n <= Math.max(n, this.capacity / 2);
  }

  /** The next `n` rows as [n, L, d] views, and marks them served (they are dropped at the next fill). */
  take(n: number): { x: Float32Array; y: Float32Array } {
    const from = this.served * this.rowLen;
    const to = (this.served + n) * this.rowLen;
    this.served += n;
    return { x: this.x.slice(from, to), y: this.y.slice(from, to) };
  }

  /** Drops the served rows (moves the rest to the front) so the next fill replaces them. */
  compact(): void {
    const len = this.rowLen;
    this.x.copyWithin(0, this.served * len, this.size * len);
    if (!this.same) this.y.copyWithin(0, this.served * len, this.size * len);
    this.size -= this.served;
    this.served = 0;
  }

  get rows(): { x: Float32Array; y: Float32Array; n: number } {
    return { x: this.x, y: this.y, n: this.size };
  }
}
