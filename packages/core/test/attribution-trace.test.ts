/**
 * circuit-tracer's finite-difference oracle: in the fully frozen model (attention patterns, every
 * norm scale and the MLP outputs pinned to their clean values, only a skip path left live), adding a source's
 * vector at its site — a·W_dec for a doubled feature (every CLT output layer), the error vector, the token
 * embedding — changes every target feature's pre-activation and every demeaned logit by exactly the
 * adjacency column. The constrained forward is built here from buildTransformer's hooks, independently of
 * the linearised backward under test.
 */
import { describe, expect, it } from 'vitest';
import {
  biasSiteCount,
  createTracer,
  linearisedValues,
  prepareTrace,
  type TraceContext,
} from '../src/attribution/trace.ts';
import { resolveTargets } from '../src/attribution/targets.ts';
import { attribute } from '../src/attribution/trace-attribute.ts';
import { attributeAttentionEdge, qkPairs } from '../src/attribution/trace-qk.ts';
import { toDense } from '../src/attribution/graph.ts';
import { createGraphJson, importGraphJson } from '../src/attribution/json.ts';
import type { RowTarget } from '../src/attribution/explore.ts';
import type { ActivationSpec, Dictionary, DictionaryHooks } from '../src/dictionary/types.ts';
import type { Architecture } from '../src/model/config.ts';
import { parseHookName } from '../src/model/hooks.ts';
import { initWeights } from '../src/model/init.ts';
import { Model } from '../src/model/model.ts';
import { buildTransformer } from '../src/model/transformer.ts';
import { nodeRuntime } from '../src/node/runtime.ts';
import { GraphBuilder, type Tensor } from '../src/tensor/graph.ts';
import { f32, i32 } from '../src/tensor/host.ts';
import { type DictCase, randomDictionary } from './attribution-trace-fixtures.ts';
import { tinyConfig } from './model-configs.ts';

const rt = nodeRuntime();
const tokens = Int32Array.from([1, 7, 3, 12, 5, 9, 3]);
const T = tokens.length;

/**
 * The constrained forward, batched: element b adds dOut[b, l] at layer l's output hook and dEmb[b] at
 * hook_embed. Returns the feature-input hooks [B, L, T, d] and the final-norm output [B, T, d].
 */
async function constrainedForward(
  model: Model,
  dict: Dictionary,
  ctx: TraceContext,
  dOut: Float32Array, // [B, L, T, d]
  dEmb: Float32Array, // [B, T, d]
  B: number,
  livePattern = -1,
): Promise<{ x: Float32Array; lnFinal: Float32Array; pattern?: Float32Array }> {
  const { config } = model;
  const { nLayers: L, dModel: d } = ctx;
  const H = config.nHeads;
  const g = new GraphBuilder();
  const tok = g.input('tokens', 'int32', ['B', T]);
  const addOut = g.input('dOut', 'float32', ['B', L, T, d]);
  const addEmb = g.input('dEmb', 'float32', ['B', T, d]);
  const fz = ctx.frozen;
  const perLayer = (all: Float32Array, l: number, shape: number[]) => {
    const n = shape.reduce((a, b) => a * b, 1);
    return g.constant(f32(shape, all.subarray(l * n, (l + 1) * n)));
  };
  const xs: Tensor[] = new Array(L);
  const out = buildTransformer(g, config, model.constants(g), tok, {
    hook: (name, v) => {
      const { layer: l, hook } = parseHookName(name);
      if (name === 'hook_embed') return g.add(v, addEmb);
      if (name === 'ln_final.hook_scale') return g.expandLike(perLayer(fz.lnFinal, 0, [1, T, 1]), v);
      if (hook === 'attn.hook_pattern' && l !== livePattern) {
        return g.expandLike(perLayer(fz.patterns, l, [1, H, T, T]), v);
      }
      if (hook === 'ln1.hook_scale') return g.expandLike(perLayer(fz.ln1, l, [1, T, 1]), v);
      if (hook === 'ln2.hook_scale') return g.expandLike(perLayer(fz.ln2, l, [1, T, 1]), v);
      if (l >= 0 && hook === dict.hooks.input) xs[l] = v;
      if (l >= 0 && hook === dict.hooks.output) {
        let o = g.expandLike(perLayer(ctx.mlpOutputs, l, [1, T, d]), v);
        const wSkip = dict.layers[l].wSkip;
        if (wSkip) {
          // The skip path stays live: o = clean + skip(x) − skip(x_clean).
          const w = g.mT(g.constant(wSkip));
          o = g.add(o, g.sub(g.matmul(xs[l], w), g.matmul(perLayer(ctx.inputs, l, [1, T, d]), w)));
        }
        return g.add(o, g.squeeze(g.slice(addOut, 1, l, l + 1), [1]));
      }
      return v;
    },
    postNormScale: (l, which, s) =>
      g.expandLike(
        perLayer((which === 'ln1_post' ? fz.ln1Post : fz.ln2Post) as Float32Array, l, [1, T, 1]),
        s,
      ),
  });
  const x = g.concat(
    xs.map((t) => g.unsqueeze(t, [1])),
    1,
  );
  const outputs: Record<string, Tensor> = { x, lnFinal: out.lnFinalOut };
  const live = out.hooks.get(`blocks.${livePattern}.attn.hook_pattern`);
  if (live) outputs.pattern = live;
  const session = await rt.load(g.compile(outputs));
  const toks = new Int32Array(B * T);
  for (let b = 0; b < B; b++) toks.set(tokens, b * T);
  const res = await session.run({
    tokens: i32([B, T], toks),
    dOut: f32([B, L, T, d], dOut),
    dEmb: f32([B, T, d], dEmb),
  });
  await session.session.release();
  return {
    x: res.x.data as Float32Array,
    lnFinal: res.lnFinal.data as Float32Array,
    ...(live ? { pattern: res.pattern.data as Float32Array } : {}),
  };
}

/** Element 0: no change; element 1 + s: source s (adjacency column order) added once more at its site. */
function sourcePerturbations(ctx: TraceContext): { dOut: Float32Array; dEmb: Float32Array; B: number } {
  const { nLayers: L, dModel: d, nActive } = ctx;
  const B = 1 + nActive + (L + 1) * T;
  const dOut = new Float32Array(B * L * T * d);
  const dEmb = new Float32Array(B * T * d);
  const comp = ctx.components;
  const nDec = comp.encoderToDecoderMap.length;
  for (let j = 0; j < nDec; j++) {
    const b = 1 + comp.encoderToDecoderMap[j];
    const layer = comp.decoderLocations[j];
    const pos = comp.decoderLocations[nDec + j];
    const o = ((b * L + layer) * T + pos) * d;
    for (let k = 0; k < d; k++) dOut[o + k] += comp.decoderVecs.data[j * d + k];
  }
  for (let l = 0; l < L; l++) {
    for (let p = 0; p < T; p++) {
      const b = 1 + nActive + l * T + p;
      dOut.set(ctx.errors.subarray((l * T + p) * d, (l * T + p + 1) * d), ((b * L + l) * T + p) * d);
    }
  }
  for (let p = 0; p < T; p++) {
    const b = 1 + nActive + L * T + p;
    dEmb.set(ctx.tokenVectors.subarray(p * d, (p + 1) * d), (b * T + p) * d);
  }
  return { dOut, dEmb, B };
}

function dot(a: Float32Array, ao: number, b: Float32Array, bo: number, n: number): number {
  let s = 0;
  for (let i = 0; i < n; i++) s += a[ao + i] * b[bo + i];
  return s;
}

async function checkOracle(arch: Architecture, c: DictCase, seed: number) {
  const config = { ...tinyConfig(arch), nLayers: 3 };
  const weights = initWeights(config, { seed, std: 0.4, randomNorms: true });
  const model = await Model.create(config, weights, undefined, rt);
  const dict = randomDictionary(config, c, seed + 100);
  const ctx = await prepareTrace(model, dict, tokens);
  const { nLayers: L, dModel: d, nActive } = ctx;
  expect(nActive).toBeGreaterThan(10);
  const targets = resolveTargets(
    { kind: 'ids', ids: [0, 5, 17] },
    {
      logits: ctx.logits,
      unembed: weights.unembed,
      tokenizer: { encode: () => [], decode: (ids) => ids.join(',') },
    },
  );
  const K = targets.logitTargets.length;
  const tracer = await createTracer(model, dict, ctx, targets.logitVectors);
  const rowTargets: RowTarget[] = [
    ...Array.from({ length: nActive }, (_, activeIndex) => ({ kind: 'feature' as const, activeIndex })),
    ...Array.from({ length: K }, (_, index) => ({ kind: 'logit' as const, index })),
  ];
  const rows = await tracer.computeRows(rowTargets); // [nActive + K, rowSize]
  const rowSize = nActive + (L + 1) * T;
  const withBias = await tracer.computeRowsWithBias(rowTargets);
  // The batch above holds logit targets, so it walks every layer from the final norm. Batches of features
  // alone run on shorter position prefixes and walk only the layers up to their deepest target, with or
  // without bias columns; their rows must be the same.
  const widthWithBias = rowSize + biasSiteCount(L, T);
  for (let s = 0; s < nActive; s += 5) {
    const chunk = rowTargets.slice(s, Math.min(s + 5, nActive));
    const part = await tracer.computeRowsWithBias(chunk);
    for (let i = 0; i < part.length; i++) {
      const full = withBias[s * widthWithBias + i];
      expect(Math.abs(part[i] - full)).toBeLessThanOrEqual(1e-5 * (1 + Math.abs(full)));
    }
  }
  await tracer.close();

  // Sources in column order; element 0 of the batch is the unperturbed baseline.
  const nSrc = rowSize;
  const { dOut, dEmb, B } = sourcePerturbations(ctx);
  const comp = ctx.components;
  const { x, lnFinal } = await constrainedForward(model, dict, ctx, dOut, dEmb, B);

  const act = comp.activations;
  const enc = comp.encoderVecs.data;
  const targetValue = (b: number, t: number): number => {
    if (t < nActive) return dot(enc, t * d, x, ((b * L + act.layer[t]) * T + act.pos[t]) * d, d);
    return dot(targets.logitVectors, (t - nActive) * d, lnFinal, (b * T + T - 1) * d, d);
  };
  let worst = 0;
  let scale = 0;
  let nonzero = 0;
  for (let t = 0; t < nActive + K; t++) {
    const base = targetValue(0, t);
    for (let s = 0; s < nSrc; s++) {
      const a = rows[t * rowSize + s];
      const delta = targetValue(1 + s, t) - base;
      scale = Math.max(scale, Math.abs(a));
      if (a !== 0) nonzero++;
      const err = Math.abs(delta - a) - 1e-3 * Math.abs(a);
      worst = Math.max(worst, err);
    }
  }
  expect(nonzero).toBeGreaterThan(nActive);
  // rtol 1e-3 plus an absolute floor for float32 cancellation in (perturbed − baseline).
  expect(worst).toBeLessThan(2e-5 * Math.max(1, scale));

  // Completeness: tokens + features + errors + bias sites add up to each target's value in the frozen
  // forward — the pre-activation W_enc·x + b_enc of a feature, v·final-norm output of a logit target.
  const nBias = biasSiteCount(L, T);
  const width = rowSize + nBias;
  const values = linearisedValues(dict, ctx, targets.logitVectors, rowTargets);
  let worstClosure = 0;
  let biasMass = 0;
  for (let t = 0; t < nActive + K; t++) {
    for (let s = 0; s < rowSize; s++) expect(withBias[t * width + s]).toBe(rows[t * rowSize + s]);
    let total = 0;
    for (let s = 0; s < width; s++) total += withBias[t * width + s];
    for (let s = rowSize; s < width; s++) biasMass += Math.abs(withBias[t * width + s]);
    const value = targetValue(0, t) + (t < nActive ? dict.layers[act.layer[t]].bEnc.data[act.feature[t]] : 0);
    expect(values[t]).toBeCloseTo(value, 4);
    worstClosure = Math.max(worstClosure, Math.abs(total - value) / Math.max(Math.abs(value), 1e-3));
  }
  expect(biasMass).toBeGreaterThan(0);
  expect(worstClosure).toBeLessThan(1e-3);

  // Nilpotent: a feature reads only features of earlier layers (a CLT's outputs start at its own layer)
  // at the same or earlier positions.
  let violations = 0;
  for (let t = 0; t < nActive; t++) {
    for (let s = 0; s < nActive; s++) {
      const reachable = act.layer[s] < act.layer[t] && act.pos[s] <= act.pos[t];
      if (!reachable && rows[t * rowSize + s] !== 0) violations++;
    }
  }
  expect(violations).toBe(0);
}

const hooksOf = (input: DictionaryHooks['input'], output: DictionaryHooks['output']): DictionaryHooks => ({
  input,
  output,
});
const jump: ActivationSpec = { kind: 'jumprelu', rectify: false };
const relu: ActivationSpec = { kind: 'relu' };
const topk: ActivationSpec = { kind: 'topk', k: 5, rectify: false };

const CASES: [Architecture, DictCase][] = [
  ['gpt2', { kind: 'plt', activation: jump, skip: false, hooks: hooksOf('hook_resid_mid', 'hook_mlp_out') }],
  [
    'gpt2',
    { kind: 'clt', activation: relu, skip: true, hooks: hooksOf('ln2.hook_normalized', 'mlp.hook_out') },
  ],
  ['llama', { kind: 'plt', activation: topk, skip: true, hooks: hooksOf('mlp.hook_in', 'mlp.hook_out') }],
  ['llama', { kind: 'clt', activation: jump, skip: false, hooks: hooksOf('hook_resid_mid', 'hook_mlp_out') }],
  [
    'gemma2',
    { kind: 'plt', activation: jump, skip: false, hooks: hooksOf('ln2.hook_normalized', 'hook_mlp_out') },
  ],
  ['gemma2', { kind: 'clt', activation: relu, skip: true, hooks: hooksOf('mlp.hook_in', 'mlp.hook_out') }],
  ['qwen2', { kind: 'plt', activation: relu, skip: true, hooks: hooksOf('hook_resid_mid', 'mlp.hook_out') }],
  ['qwen2', { kind: 'clt', activation: topk, skip: false, hooks: hooksOf('mlp.hook_in', 'hook_mlp_out') }],
  ['qwen3', { kind: 'plt', activation: topk, skip: false, hooks: hooksOf('hook_resid_pre', 'hook_mlp_out') }],
  ['qwen3', { kind: 'clt', activation: jump, skip: true, hooks: hooksOf('hook_resid_mid', 'mlp.hook_out') }],
];

describe('linearised replacement model: finite-difference oracle', () => {
  CASES.forEach(([arch, c], i) => {
    const name = `${arch} ${c.kind.toUpperCase()} ${c.activation.kind}${c.skip ? ' + skip' : ''} (${c.hooks.input} → ${c.hooks.output})`;
    it(name, async () => {
      await checkOracle(arch, c, 11 + i);
    });
  });
});

describe('prepareTrace', () => {
  it('zeroes errors and features at the zero positions and rejects bad input', async () => {
    const config = { ...tinyConfig('llama'), nLayers: 3 };
    const model = await Model.create(config, initWeights(config, { seed: 1, std: 0.4 }), undefined, rt);
    const dict = randomDictionary(config, CASES[2][1], 5);
    const ctx = await prepareTrace(model, dict, tokens, { zeroPositions: 2 });
    for (const p of ctx.components.activations.pos) expect(p).toBeGreaterThanOrEqual(2);
    for (let l = 0; l < 3; l++) {
      for (let i = 0; i < 2 * config.dModel; i++) expect(ctx.errors[l * T * config.dModel + i]).toBe(0);
    }
    await expect(prepareTrace(model, dict, Int32Array.from([1, 999]))).rejects.toThrow(/outside/);
    await expect(prepareTrace(model, dict, new Int32Array(0))).rejects.toThrow(/no tokens/);
    const sae = { ...dict, kind: 'sae' as const };
    await expect(prepareTrace(model, sae, tokens)).rejects.toThrow(/SAE/);
    const badHook = { ...dict, hooks: { input: 'hook_attn_out' as const, output: 'hook_mlp_out' as const } };
    await expect(prepareTrace(model, badHook, tokens)).rejects.toThrow(/input hook/);
  });
});

describe('attribute', () => {
  const config = { ...tinyConfig('gemma2'), nLayers: 3, bosTokenId: 1 };
  const weights = initWeights(config, { seed: 4, std: 0.4, randomNorms: true });
  const dictCase: DictCase = {
    kind: 'clt',
    activation: jump,
    skip: true,
    hooks: hooksOf('mlp.hook_in', 'mlp.hook_out'),
  };

  it('assembles the explored rows into a graph, identically on every call', async () => {
    const model = await Model.create(config, weights, undefined, rt);
    const dict = randomDictionary(config, dictCase, 9);
    const phases = new Set<string>();
    const g1 = await attribute(
      model,
      dict,
      { tokens: [7, 3, 12, 5, 9, 3] },
      { batchSize: 16, onProgress: (p) => phases.add(p.phase) },
    );
    expect([...phases]).toEqual(['setup', 'logits', 'features']);
    // A BOS is prepended because 7 is not a special token.
    expect(Array.from(g1.inputTokens)).toEqual([1, 7, 3, 12, 5, 9, 3]);
    const nActive = g1.activeFeatures.length / 3;
    expect(g1.selectedFeatures.length).toBe(nActive);
    const n = nActive + (config.nLayers + 1) * 7 + g1.logitTargets.length;
    expect(g1.adjacency.n).toBe(n);
    const g2 = await attribute(model, dict, { tokens: [1, 7, 3, 12, 5, 9, 3] }, { batchSize: 5 });
    expect(g2.adjacency).toEqual(g1.adjacency);

    // The logit rows are the tracer's rows for the same targets.
    const ctx = await prepareTrace(model, dict, g1.inputTokens);
    const targets = resolveTargets(
      { kind: 'salient' },
      {
        logits: ctx.logits,
        unembed: weights.unembed,
        tokenizer: { encode: () => [], decode: (ids) => ids.join(' ') },
      },
    );
    const tracer = await createTracer(model, dict, ctx, targets.logitVectors);
    const K = g1.logitTargets.length;
    const rows = await tracer.computeRows(
      Array.from({ length: K }, (_, index) => ({ kind: 'logit' as const, index })),
    );
    await tracer.close();
    const dense = toDense(g1.adjacency);
    for (let k = 0; k < K; k++) {
      const row = dense.data.subarray((n - K + k) * n, (n - K + k) * n + n - K);
      expect(Array.from(row)).toEqual(Array.from(rows.subarray(k * (n - K), (k + 1) * (n - K))));
    }

    // Every row of the graph, with its bias sites, sums to the target's value; the logits' values are v·x.
    expect(g1.model.dictionaryKind).toBe('clt');
    const bias = g1.bias as NonNullable<typeof g1.bias>;
    const nBias = biasSiteCount(config.nLayers, 7);
    const rowIndex = (r: number) => (r < nActive ? r : n - K + (r - nActive));
    for (let r = 0; r < nActive + K; r++) {
      let total = 0;
      for (let c = 0; c < n; c++) total += dense.data[rowIndex(r) * n + c];
      for (let s = 0; s < nBias; s++) total += bias.rows[r * nBias + s];
      expect(Math.abs(total - bias.values[r])).toBeLessThan(1e-3 * Math.max(1e-3, Math.abs(bias.values[r])));
    }
    for (let k = 0; k < K; k++) {
      let v = 0;
      for (let j = 0; j < config.dModel; j++)
        v += targets.logitVectors[k * config.dModel + j] * ctx.finalOut[j];
      expect(bias.values[nActive + k]).toBeCloseTo(v, 5);
    }
  });

  it("traces a logit difference whose rows and bias sum to the model's own logit difference", async () => {
    const llama = { ...tinyConfig('llama'), nLayers: 3, bosTokenId: 1 };
    expect(llama.finalSoftcap).toBeUndefined();
    const model = await Model.create(llama, initWeights(llama, { seed: 6, std: 0.4 }), undefined, rt);
    const dict = randomDictionary(llama, CASES[2][1], 12);
    const g = await attribute(
      model,
      dict,
      { tokens: [1, 7, 3, 12, 5, 9, 3] },
      { targets: { kind: 'diff', a: 5, b: 17 } },
    );
    expect(g.logitTargets).toEqual([{ tokenStr: 'logit("5")-logit("17")', vocabIdx: llama.dVocab }]);
    const ctx = await prepareTrace(model, dict, g.inputTokens);
    const direct = ctx.logits[5] - ctx.logits[17];
    const n = g.adjacency.n;
    const dense = toDense(g.adjacency);
    const bias = g.bias as NonNullable<typeof g.bias>;
    const nBias = biasSiteCount(llama.nLayers, ctx.nPos);
    const F = g.selectedFeatures.length;
    expect(bias.values[F]).toBeCloseTo(direct, 4);
    let total = 0;
    for (let c = 0; c < n; c++) total += dense.data[(n - 1) * n + c];
    for (let s = 0; s < nBias; s++) total += bias.rows[F * nBias + s];
    expect(Math.abs(total - direct)).toBeLessThan(1e-3 * Math.abs(direct));
  });

  it('limits feature nodes, honours abort signals and rejects bad prompts', async () => {
    const model = await Model.create(config, weights, undefined, rt);
    const dict = randomDictionary(config, dictCase, 9);
    const g = await attribute(
      model,
      dict,
      { tokens: [1, 7, 3, 12, 5, 9, 3] },
      { maxFeatureNodes: 10, batchSize: 4 },
    );
    expect(g.selectedFeatures.length).toBe(10);
    // Bias rows follow the graph's row order (selected features ascending, then logits), not the visit order.
    const ctx = await prepareTrace(model, dict, g.inputTokens);
    const targets = resolveTargets(
      { kind: 'salient' },
      {
        logits: ctx.logits,
        unembed: weights.unembed,
        tokenizer: { encode: () => [], decode: (ids) => ids.join(' ') },
      },
    );
    const tracer = await createTracer(model, dict, ctx, targets.logitVectors);
    const graphRows: RowTarget[] = [
      ...Array.from(g.selectedFeatures, (activeIndex) => ({ kind: 'feature' as const, activeIndex })),
      ...g.logitTargets.map((_, index) => ({ kind: 'logit' as const, index })),
    ];
    const full = await tracer.computeRowsWithBias(graphRows);
    await tracer.close();
    const nBias = biasSiteCount(config.nLayers, ctx.nPos);
    const width = full.length / graphRows.length;
    const bias = g.bias as NonNullable<typeof g.bias>;
    // The attribute batches ran one layer per session, `full` in one session: equal within float32 rounding.
    graphRows.forEach((_, r) => {
      const expected = full.subarray((r + 1) * width - nBias, (r + 1) * width);
      bias.rows.subarray(r * nBias, (r + 1) * nBias).forEach((v, i) => {
        expect(Math.abs(v - expected[i])).toBeLessThanOrEqual(1e-6 * (1 + Math.abs(expected[i])));
      });
    });
    expect(Array.from(bias.values)).toEqual(
      Array.from(linearisedValues(dict, ctx, targets.logitVectors, graphRows)),
    );
    const ac = new AbortController();
    ac.abort();
    await expect(attribute(model, dict, { tokens: [1, 7, 3] }, { signal: ac.signal })).rejects.toThrow();
    await expect(attribute(model, dict, { tokens: [1, 400] })).rejects.toThrow(/outside/);
    await expect(attribute(model, dict, { text: 'hi' })).rejects.toThrow(/tokenizer/);
    await expect(attribute(model, dict, { tokens: [1, 7, 3] }, { batchSize: 2 ** 26 })).rejects.toThrow(
      /smaller batch size/,
    );
  });
});

describe('graph JSON of traced graphs', () => {
  it('never gives two nodes one id, for every dictionary kind and architecture, in either format', async () => {
    let collisions = 0;
    for (const [i, [arch, c]] of CASES.entries()) {
      const config = { ...tinyConfig(arch), nLayers: 3, bosTokenId: 1 };
      const model = await Model.create(
        config,
        initWeights(config, { seed: 40 + i, std: 0.4, randomNorms: true }),
        undefined,
        rt,
      );
      // dTc 4 puts feature indices among the layer numbers, where circuit-tracer's error ids collide.
      const dict = randomDictionary(config, c, 60 + i, 4);
      const g = await attribute(model, dict, { tokens: [1, 7, 3, 12, 5, 9, 3] });
      const opts = { slug: 's', decodeToken: String, nodeThreshold: 1, edgeThreshold: 1 };
      for (const idFormat of ['loupe', 'circuit-tracer'] as const) {
        const j = createGraphJson(g, { ...opts, idFormat });
        const ids = [...j.nodes, ...(j.loupe?.bias?.nodes ?? [])].map((x) => x.node_id);
        expect(new Set(ids).size).toBe(ids.length);
        importGraphJson(JSON.stringify(j));
        for (const col of (j.metadata.node_id_collisions ?? []) as { layer: number; ctx_idx: number }[]) {
          collisions++;
          // A real layer-0 feature with index = the error's layer sits at the error's position.
          const af = g.activeFeatures;
          const owner = Array.from(g.selectedFeatures).some(
            (a) => af[3 * a] === 0 && af[3 * a + 2] === col.layer && af[3 * a + 1] === col.ctx_idx,
          );
          expect(owner).toBe(true);
        }
        if (idFormat === 'loupe') {
          expect(
            j.nodes.filter(
              (x) =>
                x.feature_type === (c.kind === 'plt' ? 'per layer transcoder' : 'cross layer transcoder'),
            ).length,
          ).toBeGreaterThan(0);
          const bias = g.bias as NonNullable<typeof g.bias>;
          expect(j.loupe?.bias?.targets.length).toBeGreaterThan(0);
          expect(j.loupe?.bias?.links.length).toBeGreaterThan(0);
          for (const t of j.loupe?.bias?.targets ?? []) expect(Array.from(bias.values)).toContain(t.value);
        }
      }
    }
    expect(collisions).toBeGreaterThan(0);
  });
});

describe('QK attribution', () => {
  /**
   * FD check with the pattern of the attributed layer left live (everything else frozen as above): adding
   * source s changes q by q_s and k by k_s, so the new scores are (q + q_s)·(k + k_s) exactly, and the
   * pattern's log-ratio between two keys moves accordingly.
   */
  async function checkQk(arch: Architecture, c: DictCase, seed: number, layer: number, head: number) {
    const config = { ...tinyConfig(arch), nLayers: 3 };
    const weights = initWeights(config, { seed, std: 0.4, randomNorms: true });
    const model = await Model.create(config, weights, undefined, rt);
    const dict = randomDictionary(config, c, seed + 100);
    const ctx = await prepareTrace(model, dict, tokens);
    const tracer = await createTracer(model, dict, ctx, new Float32Array(config.dModel));
    const q = T - 1;
    const [k1, k2] = [T - 2, T - 3];
    const a1 = await attributeAttentionEdge(model, tracer, { layer, head, queryPos: q, keyPos: k1 });
    const a2 = await attributeAttentionEdge(model, tracer, { layer, head, queryPos: q, keyPos: k2 });
    await tracer.close();
    const cap = config.attnSoftcap;
    const sc = (x: number) => (cap === undefined ? x : cap * Math.tanh(x / cap));
    const H = config.nHeads;
    const logRatio = (p: Float32Array, b: number) => {
      const o = ((b * H + head) * T + q) * T;
      return Math.log(p[o + k1]) - Math.log(p[o + k2]);
    };
    const cleanP = ctx.frozen.patterns.subarray(layer * H * T * T, (layer + 1) * H * T * T);
    expect(Math.abs(sc(a1.score) - sc(a2.score) - logRatio(cleanP, 0))).toBeLessThan(1e-4);
    // Each side sums to the clean vector; the rest holds only constants.
    const dh = config.dHead;
    const perturbed = (a: typeof a1, s: number) => {
      let v = 0;
      for (let j = 0; j < dh; j++) {
        v += (a.query[j] + a.queryContrib[s * dh + j]) * (a.key[j] + a.keyContrib[s * dh + j]);
      }
      return v;
    };
    const { dOut, dEmb, B } = sourcePerturbations(ctx);
    const { pattern } = await constrainedForward(model, dict, ctx, dOut, dEmb, B, layer);
    const p = pattern as Float32Array;
    expect(Math.abs(logRatio(p, 0) - logRatio(cleanP, 0))).toBeLessThan(1e-5);
    let worst = 0;
    let moved = 0;
    for (let s = 0; s < a1.nSources; s++) {
      const predicted = sc(perturbed(a1, s)) - sc(perturbed(a2, s));
      const actual = logRatio(p, 1 + s);
      worst = Math.max(worst, Math.abs(predicted - actual));
      if (Math.abs(actual - logRatio(cleanP, 0)) > 1e-3) moved++;
    }
    expect(moved).toBeGreaterThan(5);
    expect(worst).toBeLessThan(2e-4);
    // Query-side and key-side source scores sum to the score minus the constant parts.
    let qSum = 0;
    for (const v of a1.queryScores) qSum += v;
    let restDot = 0;
    for (let j = 0; j < dh; j++) restDot += a1.queryRest[j] * a1.key[j];
    expect(qSum + restDot).toBeCloseTo(a1.score, 4);
    const pairs = qkPairs(a1, 5);
    expect(pairs.length).toBe(36);
    expect(Math.abs(pairs[0].value)).toBeGreaterThanOrEqual(Math.abs(pairs[35].value));
  }

  it('llama PLT: decomposes the score exactly, checked by perturbation', async () => {
    await checkQk('llama', CASES[2][1], 31, 2, 3);
  });
  it('gpt2 CLT (LayerNorm, learned positions)', async () => {
    await checkQk('gpt2', CASES[1][1], 32, 1, 1);
  });
  it('gemma2 CLT (softcap, post-norms, GQA)', async () => {
    await checkQk('gemma2', CASES[5][1], 33, 2, 2);
  });
  it('rejects edges that do not exist', async () => {
    const config = { ...tinyConfig('qwen2'), nLayers: 3 };
    const model = await Model.create(config, initWeights(config, { seed: 1, std: 0.4 }), undefined, rt);
    const dict = randomDictionary(config, CASES[6][1], 5);
    const ctx = await prepareTrace(model, dict, tokens);
    const tracer = await createTracer(model, dict, ctx, new Float32Array(config.dModel));
    const edge = { layer: 1, head: 0, queryPos: 2, keyPos: 4 };
    await expect(attributeAttentionEdge(model, tracer, edge)).rejects.toThrow(/after query/);
    await expect(attributeAttentionEdge(model, tracer, { ...edge, head: 9 })).rejects.toThrow(/head 9/);
    await tracer.close();
  });
});
