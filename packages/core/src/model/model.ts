/**
 * A compiled transformer: forward passes with any set of hooks cached, vectors added or values frozen at
 * any hook, and batched vector-Jacobian products in the full or linearised model. Each distinct
 * signature (which hooks, which sites) compiles one ONNX graph once; later calls cost one session.run.
 *
 * One file over 450 lines on purpose: run, vjp and generate share the private graph builders, the graph
 * cache keys and the batch/freeze/add feed preparation of one class; split apart they would need those
 * exposed.
 */
import type { Tokenizer } from '../io/tokenizer.ts';
import { type CompiledModel, GraphBuilder, type Tensor } from '../tensor/graph.ts';
import { asF32, f32, type F32, type HostTensor, i32, numel } from '../tensor/host.ts';
import { outputF32, type Runtime } from '../tensor/runtime.ts';
import type { ModelConfig } from './config.ts';
import { type HookName, hookDims, isHeadHook, parseHookName } from './hooks.ts';
import { seededRandom } from './init.ts';
import { checkGeneration, sampleToken } from './sampling.ts';
import type { FreezeKind } from './replacement.ts';
import { buildTransformer, constantWeights, type WeightTree } from './transformer.ts';
import type { ModelWeights } from './weights.ts';

export interface AddSpec {
  hook: HookName;
  /** Positions to add at (default: every position). */
  pos?: number | number[];
  vector: Float32Array; // [dModel] (or the hook's trailing size)
}

export interface FreezeSpec {
  hook: HookName;
  /** The hook's value, [T, ...] for one sequence or [B, T, ...] (a [T, ...] value is shared by the batch). */
  value: HostTensor;
  /**
   * Per-head hooks (attn.hook_q/k/v/z, attn.hook_pattern) only: the heads (KV heads for hook_k and hook_v)
   * whose slices `value` replaces; every other head keeps the run's own value. Default: the whole hook.
   * Patching a head is a value from another prompt here; ablating it, zeros or a mean.
   */
  heads?: readonly number[];
}

/** Feed (graph input) names of the model's graphs. Each is built here and never parsed back. */
const feedName = {
  tokens: 'tokens',
  freeze: (h: HookName) => `freeze:${h}`,
  /** [heads] 0/1 mask: which heads of `freeze:h` replace the computed value. */
  heads: (h: HookName) => `heads:${h}`,
  add: (h: HookName) => `add:${h}`,
  pin: (h: HookName) => `pin:${h}`,
  seed: (h: HookName) => `seed:${h}`,
  past: (kv: 'k' | 'v', layer: number) => `past:${kv}:${layer}`,
};

/** Fetch (graph output) names of the model's graphs. */
const fetchName = {
  logits: 'logits',
  hook: (h: HookName) => `hook:${h}`,
  grad: (h: HookName) => `grad:${h}`,
  present: (kv: 'k' | 'v', layer: number) => `present:${kv}:${layer}`,
};

export interface RunOptions {
  hooks?: readonly HookName[];
  add?: readonly AddSpec[];
  freeze?: readonly FreezeSpec[];
}

export interface RunResult {
  logits: F32; // [T, V] for one sequence, [B, T, V] for a batch
  cache: Map<HookName, F32>; // hook shapes as in hooks.ts, with a leading B for a batch
}

/** A dense cotangent for a whole hook ([B, T, d]), or one vector at (batch, pos). */
export type VjpSeed =
  | { hook: HookName; cotangent: F32 }
  | { hook: HookName; batch: number; pos: number; vector: Float32Array };

export interface VjpOptions {
  /** One prompt, run as `batch` identical copies, or one sequence per batch element. */
  tokens: Int32Array | Int32Array[];
  batch?: number;
  /** Gradients are of Σ_seeds <cotangent, hook value>; seeds may sit at several hooks in one run. */
  seeds: readonly VjpSeed[];
  wrt: readonly HookName[];
  /** Stop gradients here (the value stays the clean one): attribution's linearisation. */
  freeze?: readonly FreezeKind[];
  /** Forward values to return as well. */
  hooks?: readonly HookName[];
  /** Also return the logits (needs the whole forward pass). */
  logits?: boolean;
  /**
   * Hook values fed in instead of computed, e.g. a clean run's patterns and norm scales: with every
   * freeze kind on and those pinned, the graph needs no forward pass at all, only the linear backward.
   */
  pinned?: readonly FreezeSpec[];
}

export interface VjpResult {
  grads: Map<HookName, F32>; // [B, ...hook shape]
  cache: Map<HookName, F32>;
  logits?: F32; // [B, T, V], when asked for
}

export interface GenerateOptions {
  maxNewTokens: number;
  /** 0 (default) is greedy decoding. */
  temperature?: number;
  topK?: number;
  seed?: number;
  stopTokens?: readonly number[];
  add?: readonly AddSpec[];
  freeze?: readonly FreezeSpec[];
}

export interface GenerateResult {
  tokens: Int32Array; // the generated tokens only
  logits: F32; // [n, V]: the distribution each generated token was chosen from
}

/** The frozen hooks of a run: whole ones, and those replaced only at some heads (a mask feed each). */
interface Frozen {
  whole: HookName[];
  byHead: HookName[];
}

/** Refuse batches whose logits alone would take more than this (a clear error instead of an allocation failure). */
const MAX_LOGIT_BYTES = 2 ** 31;

const sortedUnique = <T extends string>(xs: readonly T[]): T[] => [...new Set(xs)].sort();

export class Model {
  private constructor(
    readonly config: ModelConfig,
    readonly weights: ModelWeights,
    readonly tokenizer: Tokenizer | undefined,
    readonly runtime: Runtime,
    private readonly id: string,
  ) {}

  private static nextId = 0;

  static async create(
    config: ModelConfig,
    weights: ModelWeights,
    tokenizer: Tokenizer | undefined,
    runtime: Runtime,
  ): Promise<Model> {
    if (weights.layers.length !== config.nLayers) {
      throw new Error(`Model: weights have ${weights.layers.length} layers, config says ${config.nLayers}`);
    }
    if (weights.embed.shape[0] !== config.dVocab || weights.embed.shape[1] !== config.dModel) {
      throw new Error(
        `Model: embed is [${weights.embed.shape.join(', ')}], expected [${config.dVocab}, ${config.dModel}]`,
      );
    }
    // No session is compiled here: each is compiled on first use, and attribution never runs the plain forward.
    return new Model(config, weights, tokenizer, runtime, `model${Model.nextId++}`);
  }

  /** Shape of a hook for one sequence of length T (hooks.ts). */
  hookShape(hook: HookName, T: number): number[] {
    return hookDims(this.config, hook, T);
  }

  private validateTokens(tokens: Int32Array | Int32Array[]): {
    data: Int32Array;
    B: number;
    T: number;
    batched: boolean;
  } {
    const seqs = Array.isArray(tokens) ? tokens : [tokens];
    if (seqs.length === 0) throw new Error('no sequences given');
    const T = seqs[0].length;
    if (T === 0) throw new Error('empty token sequence');
    if (T > this.config.nCtx) throw new Error(`${T} tokens exceed the context length ${this.config.nCtx}`);
    const logitBytes = seqs.length * T * this.config.dVocab * 4;
    if (logitBytes > MAX_LOGIT_BYTES) {
      throw new Error(
        `${seqs.length} × ${T} tokens would need ${(logitBytes / 2 ** 30).toFixed(1)} GiB of logits; split the batch`,
      );
    }
    const data = new Int32Array(seqs.length * T);
    seqs.forEach((s, b) => {
      if (s.length !== T) throw new Error(`batch sequences differ in length (${s.length} vs ${T})`);
      for (const t of s)
        if (t < 0 || t >= this.config.dVocab)
          throw new Error(`token ${t} outside [0, ${this.config.dVocab})`);
      data.set(s, b * T);
    });
    return { data, B: seqs.length, T, batched: Array.isArray(tokens) };
  }

  /**
   * The intervention graph: frozen inputs replace hook values (at the masked heads only, for `byHead`),
   * added inputs are added after; with `kv`, past keys/values come in and the extended cache goes out.
   */
  private build(cached: readonly HookName[], added: readonly HookName[], frozen: Frozen, kv = false) {
    const { nLayers, nKvHeads, dHead } = this.config;
    const g = new GraphBuilder();
    const tokens = g.input(feedName.tokens, 'int32', ['B', 'T']);
    const past = kv
      ? Array.from({ length: nLayers }, (_, l) => ({
          k: g.input(feedName.past('k', l), 'float32', ['B', nKvHeads, 'P', dHead]),
          v: g.input(feedName.past('v', l), 'float32', ['B', nKvHeads, 'P', dHead]),
        }))
      : undefined;
    const replace = new Map<HookName, (v: Tensor) => Tensor>();
    for (const h of frozen.whole) {
      const value = g.input(feedName.freeze(h), 'float32', this.symShape(h));
      replace.set(h, () => value);
    }
    for (const h of frozen.byHead) {
      const value = g.input(feedName.freeze(h), 'float32', this.symShape(h));
      const axis = this.headAxis(h);
      const heads = this.hookShape(h, 1)[axis - 1];
      // [heads, 1(, 1)]: broadcast against [B, T, heads, dHead] or [B, heads, T, T]. Exact for a 0/1 mask.
      const mask = g.reshape(g.input(feedName.heads(h), 'float32', [heads]), [
        heads,
        ...(axis === 1 ? [1, 1] : [1]),
      ]);
      replace.set(h, (v) => g.add(g.mul(v, g.sub(1, mask)), g.mul(value, mask)));
    }
    const adds = new Map(added.map((h) => [h, g.input(feedName.add(h), 'float32', this.symShape(h))]));
    const out = buildTransformer(g, this.config, constantWeights(g, this.weights), tokens, {
      past,
      hook: (name, v) => {
        const base = replace.get(name)?.(v) ?? v;
        const ad = adds.get(name);
        return ad ? g.add(base, ad) : base;
      },
    });
    const outputs: Record<string, Tensor> = { [fetchName.logits]: out.logits };
    for (const h of cached) outputs[fetchName.hook(h)] = this.hookTensor(out.hooks, h);
    out.present?.forEach((p, l) => {
      outputs[fetchName.present('k', l)] = p.k;
      outputs[fetchName.present('v', l)] = p.v;
    });
    return g.compileModel(outputs);
  }

  /** The head axis of a per-head hook in its batched value [B, ...hook shape]; throws for other hooks. */
  private headAxis(h: HookName): number {
    const { hook } = parseHookName(h);
    if (hook === 'attn.hook_pattern') return 1;
    if (isHeadHook(hook)) return 2;
    throw new Error(`freeze '${h}': heads apply only to per-head hooks (attn.hook_q/k/v/z/pattern)`);
  }

  /** Splits freeze specs into whole and per-head ones and adds their feeds (values, head masks). */
  private freezeFeeds(
    specs: readonly FreezeSpec[],
    B: number,
    T: number,
    feeds: Record<string, HostTensor>,
  ): Frozen {
    const whole: HookName[] = [];
    const byHead: HookName[] = [];
    for (const f of specs) {
      if (feeds[feedName.freeze(f.hook)]) throw new Error(`'${f.hook}' is frozen twice`);
      feeds[feedName.freeze(f.hook)] = this.batchValue(f.hook, f.value, B, T);
      if (f.heads === undefined) {
        whole.push(f.hook);
        continue;
      }
      const n = this.hookShape(f.hook, 1)[this.headAxis(f.hook) - 1];
      const mask = new Float32Array(n);
      for (const h of f.heads) {
        if (!Number.isInteger(h) || h < 0 || h >= n)
          throw new Error(`freeze '${f.hook}': head ${h} outside [0, ${n})`);
        mask[h] = 1;
      }
      if (f.heads.length === 0) throw new Error(`freeze '${f.hook}': heads is empty`);
      feeds[feedName.heads(f.hook)] = f32([n], mask);
      byHead.push(f.hook);
    }
    return { whole: whole.sort(), byHead: byHead.sort() };
  }

  private hookTensor(hooks: Map<HookName, Tensor>, h: HookName): Tensor {
    const t = hooks.get(h);
    if (!t) throw new Error(`hook '${h}' does not exist in this model`);
    return t;
  }

  private symShape(h: HookName): (number | string)[] {
    return ['B', ...hookDims(this.config, h, 'T')];
  }

  /** The cached session for one graph signature: its kind and the hook lists that shape it. */
  private graph(kind: string, lists: readonly (readonly string[])[], build: () => CompiledModel) {
    return this.runtime.graph(`${this.id}|${kind}|${lists.map((l) => l.join(',')).join('|')}`, build);
  }

  /** Expands a [T, ...] value to [B, T, ...], or checks a [B, T, ...] one. */
  private batchValue(hook: HookName, value: HostTensor, B: number, T: number): F32 {
    const shape = this.hookShape(hook, T);
    const per = numel(shape);
    const same = (s: readonly number[]) => s.length === shape.length && s.every((d, i) => d === shape[i]);
    const data = asF32(value, `freeze '${hook}'`).data;
    if (same(value.shape)) {
      const out = new Float32Array(B * per);
      for (let b = 0; b < B; b++) out.set(data, b * per);
      return f32([B, ...shape], out);
    }
    if (value.shape[0] === B && same(value.shape.slice(1))) return f32([B, ...shape], data);
    throw new Error(
      `freeze '${hook}': value shape [${value.shape.join(', ')}] is not [${shape.join(', ')}] or [${B}, ${shape.join(', ')}]`,
    );
  }

  /**
   * Dense [B, T, width] values for the add specs of one hook over absolute positions start..start+T-1;
   * with `strict`, a position outside that window is an error (otherwise it belongs to another step).
   */
  private addValue(specs: readonly AddSpec[], B: number, T: number, start = 0, strict = true): F32 {
    const hook = specs[0].hook;
    const shape = this.hookShape(hook, T);
    if (parseHookName(hook).hook === 'attn.hook_pattern')
      throw new Error(`add at '${hook}' is not supported; use freeze`);
    const width = numel(shape.slice(1)); // per position: dModel, dMlp, or heads × dHead
    const one = new Float32Array(T * width);
    for (const s of specs) {
      if (s.vector.length !== width)
        throw new Error(`add at '${hook}': vector has ${s.vector.length} values, expected ${width}`);
      const positions =
        s.pos === undefined
          ? [...Array(T).keys()].map((p) => p + start)
          : typeof s.pos === 'number'
            ? [s.pos]
            : s.pos;
      for (const p of positions) {
        const q = strict && p < 0 ? p + T - start : p - start;
        if (!Number.isInteger(q) || q < 0 || q >= T) {
          if (strict) throw new Error(`add at '${hook}': position ${p} outside a ${T}-token prompt`);
          continue;
        }
        for (let i = 0; i < width; i++) one[q * width + i] += s.vector[i];
      }
    }
    return this.batchValue(hook, f32(shape, one), B, T);
  }

  /** Forward pass with cached hooks and interventions (added vectors apply after freezing). */
  async run(tokens: Int32Array | Int32Array[], options: RunOptions = {}): Promise<RunResult> {
    const { data, B, T, batched } = this.validateTokens(tokens);
    const cached = sortedUnique(options.hooks ?? []);
    for (const h of cached) this.hookShape(h, T);
    const addBy = new Map<HookName, AddSpec[]>();
    for (const a of options.add ?? []) addBy.set(a.hook, [...(addBy.get(a.hook) ?? []), a]);
    const added = sortedUnique([...addBy.keys()]);
    const feeds: Record<string, HostTensor> = { [feedName.tokens]: i32([B, T], data) };
    const frozen = this.freezeFeeds(options.freeze ?? [], B, T, feeds);
    for (const [h, specs] of addBy) feeds[feedName.add(h)] = this.addValue(specs, B, T);
    const session = await this.graph('run', [cached, added, frozen.whole, frozen.byHead], () =>
      this.build(cached, added, frozen),
    );
    const res = await session.run(feeds);
    const unbatch = (name: string): F32 => {
      const t = outputF32(res, name);
      return batched ? t : f32(t.shape.slice(1), t.data);
    };
    const cache = new Map<HookName, F32>();
    for (const h of cached) cache.set(h, unbatch(fetchName.hook(h)));
    return { logits: unbatch(fetchName.logits), cache };
  }

  private buildVjp(
    seedHooks: readonly HookName[],
    wrt: readonly HookName[],
    freeze: readonly FreezeKind[],
    cached: readonly HookName[],
    pinned: readonly HookName[],
    withLogits: boolean,
  ) {
    const g = new GraphBuilder();
    const tokens = g.input(feedName.tokens, 'int32', ['B', 'T']);
    const pins = new Map(pinned.map((h) => [h, g.input(feedName.pin(h), 'float32', this.symShape(h))]));
    const out = buildTransformer(g, this.config, constantWeights(g, this.weights), tokens, {
      detach: freeze,
      hook: (name, v) => pins.get(name) ?? v,
    });
    const seeds = seedHooks.map((h) => g.input(feedName.seed(h), 'float32', this.symShape(h)));
    const grads = g.grad(
      seedHooks.map((h) => this.hookTensor(out.hooks, h)),
      seeds,
      wrt.map((h) => this.hookTensor(out.hooks, h)),
    );
    const outputs: Record<string, Tensor> = withLogits ? { [fetchName.logits]: out.logits } : {};
    wrt.forEach((h, i) => {
      outputs[fetchName.grad(h)] = grads[i];
    });
    for (const h of cached) outputs[fetchName.hook(h)] = this.hookTensor(out.hooks, h);
    return g.compileModel(outputs);
  }

  /**
   * Vector-Jacobian products: for each batch element b, d(Σ_seeds <seed_b, hook_b>)/d(wrt_b). Seeds at
   * different hooks (e.g. feature-input hooks of several layers and ln_final) and every wrt hook (e.g.
   * all hook_mlp_out and hook_embed) are handled in ONE run, as attribution needs.
   */
  async vjp(options: VjpOptions): Promise<VjpResult> {
    const seqs = Array.isArray(options.tokens)
      ? options.tokens
      : Array.from({ length: options.batch ?? 1 }, () => options.tokens as Int32Array);
    const { data, B, T } = this.validateTokens(seqs);
    if (options.seeds.length === 0) throw new Error('vjp: no seeds given');
    if (options.wrt.length === 0) throw new Error('vjp: no wrt hooks given');
    const seedHooks = sortedUnique(options.seeds.map((s) => s.hook));
    const wrt = sortedUnique(options.wrt);
    const freeze = sortedUnique(options.freeze ?? []);
    const cached = sortedUnique(options.hooks ?? []);
    for (const h of [...wrt, ...cached]) this.hookShape(h, T);
    const dense = new Map<HookName, F32>();
    for (const h of seedHooks) dense.set(h, f32([B, ...this.hookShape(h, T)]));
    for (const s of options.seeds) {
      const d = dense.get(s.hook);
      if (!d) throw new Error(`vjp seed at '${s.hook}': no dense seed`);
      if ('cotangent' in s) {
        const c = s.cotangent;
        if (c.data.length !== d.data.length) {
          throw new Error(
            `vjp seed at '${s.hook}': cotangent shape [${c.shape.join(', ')}] is not [${d.shape.join(', ')}]`,
          );
        }
        for (let i = 0; i < c.data.length; i++) d.data[i] += c.data[i];
      } else {
        const width = d.shape[d.shape.length - 1];
        if (d.shape.length !== 3)
          throw new Error(`vjp seed at '${s.hook}': sparse seeds need a [B, T, d] hook`);
        if (!(s.batch >= 0 && s.batch < B && s.pos >= 0 && s.pos < T)) {
          throw new Error(`vjp seed at '${s.hook}': (batch ${s.batch}, pos ${s.pos}) outside [${B}, ${T}]`);
        }
        if (s.vector.length !== width)
          throw new Error(`vjp seed at '${s.hook}': vector has ${s.vector.length} values, expected ${width}`);
        const o = (s.batch * T + s.pos) * width;
        for (let i = 0; i < width; i++) d.data[o + i] += s.vector[i];
      }
    }
    const feeds: Record<string, HostTensor> = { [feedName.tokens]: i32([B, T], data) };
    for (const [h, t] of dense) feeds[feedName.seed(h)] = t;
    const pinned = sortedUnique((options.pinned ?? []).map((p) => p.hook));
    if (pinned.length !== (options.pinned ?? []).length) throw new Error('vjp: a hook is pinned twice');
    for (const p of options.pinned ?? [])
      feeds[feedName.pin(p.hook)] = this.batchValue(p.hook, p.value, B, T);
    const withLogits = options.logits ?? false;
    const kind = `vjp:${freeze.join('+')}:${pinned.join(',')}:${withLogits}`;
    const session = await this.graph(kind, [seedHooks, wrt, cached], () =>
      this.buildVjp(seedHooks, wrt, freeze, cached, pinned, withLogits),
    );
    const res = await session.run(feeds);
    const grads = new Map<HookName, F32>();
    for (const h of wrt) grads.set(h, outputF32(res, fetchName.grad(h)));
    const cache = new Map<HookName, F32>();
    for (const h of cached) cache.set(h, outputF32(res, fetchName.hook(h)));
    return { grads, cache, ...(withLogits ? { logits: outputF32(res, fetchName.logits) } : {}) };
  }

  /**
   * Generates with a KV cache: greedy (temperature 0, the default) or seeded sampling. Added vectors use
   * absolute positions (no `pos`: every prompt and generated position) and stay active while generating;
   * frozen values cover the prompt pass only, as in circuit-tracer's feature_intervention generation.
   */
  async generate(prompt: Int32Array, options: GenerateOptions): Promise<GenerateResult> {
    const { data, T } = this.validateTokens(prompt);
    const temperature = checkGeneration(T, options, this.config.nCtx);
    const n = options.maxNewTokens;
    const rand = seededRandom(options.seed ?? 0);
    const stop = new Set(options.stopTokens ?? []);
    const addBy = new Map<HookName, AddSpec[]>();
    for (const a of options.add ?? []) addBy.set(a.hook, [...(addBy.get(a.hook) ?? []), a]);
    const added = sortedUnique([...addBy.keys()]);
    const { nLayers, nKvHeads, dHead, dVocab: V } = this.config;

    const feeds: Record<string, HostTensor> = {};
    // Frozen values cover the prompt pass: their feeds are dropped after the first step.
    const frozen = this.freezeFeeds(options.freeze ?? [], 1, T, feeds);
    const promptOnly = Object.keys(feeds);
    for (let l = 0; l < nLayers; l++) {
      feeds[feedName.past('k', l)] = f32([1, nKvHeads, 0, dHead]);
      feeds[feedName.past('v', l)] = f32([1, nKvHeads, 0, dHead]);
    }
    const out: number[] = [];
    const logits = new Float32Array(n * V);
    let step = i32([1, T], data);
    let start = 0;
    for (let i = 0; i < n; i++) {
      const first = i === 0;
      const len = step.shape[1];
      feeds[feedName.tokens] = step;
      for (const [h, specs] of addBy) feeds[feedName.add(h)] = this.addValue(specs, 1, len, start, false);
      const fr = first ? frozen : { whole: [], byHead: [] };
      if (!first) for (const name of promptOnly) delete feeds[name];
      const session = await this.graph('gen', [added, fr.whole, fr.byHead], () =>
        this.build([], added, fr, true),
      );
      const res = await session.run(feeds);
      for (let l = 0; l < nLayers; l++) {
        feeds[feedName.past('k', l)] = outputF32(res, fetchName.present('k', l));
        feeds[feedName.past('v', l)] = outputF32(res, fetchName.present('v', l));
      }
      const row = outputF32(res, fetchName.logits).data.subarray((len - 1) * V, len * V);
      logits.set(row, i * V);
      const next = sampleToken(row, temperature, rand, options.topK);
      out.push(next);
      if (stop.has(next)) break;
      start += len;
      step = i32([1, 1], [next]);
    }
    return { tokens: Int32Array.from(out), logits: f32([out.length, V], logits.subarray(0, out.length * V)) };
  }

  /** The weights as graph constants in `g`, for callers composing their own graphs with buildTransformer. */
  constants(g: GraphBuilder): WeightTree<Tensor> {
    return constantWeights(g, this.weights);
  }
}
