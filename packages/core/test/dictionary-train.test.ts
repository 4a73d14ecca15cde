import { describe, expect, it } from 'vitest';
import { memoryFiles } from '../src/browser/files.ts';
import {
  buildFeatureIndex,
  type Dictionary,
  dictionaryTrainingGraph,
  initDictionaryParameters,
  evaluateDictionary,
  FeatureIndexReader,
  featureJsonSchema,
  loadDictionary,
  runDictionary,
  topBottomIndices,
  trainDictionary,
  withoutBiasDirection,
  writeDictionary,
  writeFeatureIndexDir,
} from '../src/dictionary/index.ts';
import type { HookName } from '../src/model/hooks.ts';
import { initWeights, seededRandom } from '../src/model/init.ts';
import { Model } from '../src/model/model.ts';
import { nodeRuntime } from '../src/node/runtime.ts';
import { GraphBuilder, type Tensor } from '../src/tensor/graph.ts';
import { f32, type F32 } from '../src/tensor/host.ts';
import { tinyConfig } from './model-configs.ts';

const rt = nodeRuntime();
const config = tinyConfig('gpt2'); // 2 layers, d_model 16, vocab 40, ctx 16
const model = await Model.create(config, initWeights(config, { seed: 1 }), undefined, rt);
const BOS = 0;

/** Endless batches of 8 sequences of 16 tokens, BOS first, from a seeded generator. */
function* corpus(seed: number): Generator<Int32Array[]> {
  const rand = seededRandom(seed);
  for (;;) {
    yield Array.from({ length: 8 }, () =>
      Int32Array.from({ length: 16 }, (_, t) => (t === 0 ? BOS : 1 + Math.floor(rand() * 39))),
    );
  }
}

const small = {
  width: 48,
  k: 4,
  steps: 150,
  batchRows: 128,
  bufferRows: 1024,
  lr: 3e-3,
  excludeTokens: [BOS],
};

/** Plain-TS oracle of the training graph's loss and metrics (BatchTopK, PLT/CLT decode, AuxK). */
function oracleStep(
  kind: 'plt' | 'clt',
  p: Record<string, F32>,
  x: Float32Array,
  y: Float32Array,
  dead: Float32Array,
  s: { L: number; d: number; W: number; R: number; k: number; auxK: number },
) {
  const { L, d, W, R, k, auxK } = s;
  const kth = (xs: number[], n: number) => [...xs].sort((a, b) => b - a)[n - 1];
  const pre = (l: number, r: number, f: number) => {
    let v = p.bEnc.data[l * W + f];
    for (let j = 0; j < d; j++) v += x[(r * L + l) * d + j] * p.wEnc.data[(l * W + f) * d + j];
    return v;
  };
  const P = Array.from({ length: L }, (_, l) =>
    Array.from({ length: R }, (_, r) => Array.from({ length: W }, (_, f) => pre(l, r, f))),
  );
  const theta = P.map((rows) => kth(rows.flat(), k * R));
  const acts = P.map((rows, l) => rows.map((row) => row.map((v) => (v >= theta[l] && v > 0 ? v : 0))));
  const decode = (a: number[][][], bias: boolean) =>
    Array.from({ length: L }, (_, o) =>
      Array.from({ length: R }, (_, r) =>
        Array.from({ length: d }, (_, j) => {
          let v = bias ? p.bDec.data[o * d + j] : 0;
          for (let l = 0; l <= o; l++) {
            if (kind === 'plt' && l !== o) continue;
            for (let f = 0; f < W; f++) {
              const w =
                kind === 'plt'
                  ? p.wDec.data[(o * W + f) * d + j]
                  : p[`wDec${l}`].data[(f * (L - l) + (o - l)) * d + j];
              v += a[l][r][f] * w;
            }
          }
          return v;
        }),
      ),
    );
  const recon = decode(acts, true);
  const yv = (l: number, r: number, j: number) => y[(r * L + l) * d + j];
  let sseAll = 0;
  const sse = recon.map((rows, l) =>
    rows.reduce((a, row, r) => a + row.reduce((b, v, j) => b + (v - yv(l, r, j)) ** 2, 0), 0),
  );
  for (const v of sse) sseAll += v;
  const auxActs = P.map((rows, l) =>
    rows.map((row) => {
      const pd = row.map((v, f) => (dead[l * W + f] > 0.5 ? v : -1e30));
      const t = kth(pd, auxK);
      return row.map((v, f) => (pd[f] >= t && dead[l * W + f] > 0.5 && v > 0 ? v : 0));
    }),
  );
  const auxRecon = decode(auxActs, false);
  let num = 0;
  let den = 0;
  for (let l = 0; l < L; l++) {
    for (let r = 0; r < R; r++) {
      for (let j = 0; j < d; j++) {
        const res = yv(l, r, j) - recon[l][r][j];
        num += (auxRecon[l][r][j] - res) ** 2;
        den += res ** 2;
      }
    }
  }
  const fires = acts.map((rows) =>
    Array.from({ length: W }, (_, f) => rows.filter((row) => row[f] !== 0).length),
  );
  return {
    mse: sseAll / (L * R * d),
    loss: sseAll / (L * R * d) + num / Math.max(den, 1e-12) / 32,
    sse,
    theta,
    fires,
  };
}

describe('dictionaryTrainingGraph', () => {
  for (const kind of ['plt', 'clt'] as const) {
    it(`${kind}: loss and metrics match a plain-TS oracle`, async () => {
      const s = { L: 2, d: 3, W: 5, R: 4, k: 2, auxK: 2 };
      const rand = seededRandom(11);
      const bDec = f32(
        [s.L, 1, s.d],
        Array.from({ length: s.L * s.d }, () => rand() - 0.5),
      );
      const p = initDictionaryParameters(kind, s.L, s.W, s.d, bDec, 3);
      p.bEnc = f32(
        [s.L, 1, s.W],
        Array.from({ length: s.L * s.W }, () => 0.2 * (rand() - 0.5)),
      );
      if (kind === 'clt')
        p.wDec0 = f32(
          p.wDec0.shape,
          Array.from(p.wDec0.data, () => rand() - 0.5),
        );
      const x = Float32Array.from({ length: s.R * s.L * s.d }, () => 2 * (rand() - 0.5));
      const y = Float32Array.from({ length: s.R * s.L * s.d }, () => 2 * (rand() - 0.5));
      const dead = Float32Array.from({ length: s.L * s.W }, (_, i) => (i % 5 < 3 ? 1 : 0));
      const g = new GraphBuilder();
      const pt: Record<string, Tensor> = Object.fromEntries(
        Object.entries(p).map(([n, v]) => [n, g.input(n, 'float32', v.shape)]),
      );
      const xi = g.input('x', 'float32', [s.R, s.L, s.d]);
      const yi = g.input('y', 'float32', [s.R, s.L, s.d]);
      const di = g.input('dead', 'float32', [s.L, 1, s.W]);
      const shape = { kind, L: s.L, d: s.d, width: s.W, rows: s.R, k: s.k, auxK: s.auxK, auxCoef: 1 / 32 };
      const { loss, metrics } = dictionaryTrainingGraph(g, shape, pt, xi, yi, di);
      const graph = await rt.load(g.compile({ loss, ...metrics }));
      const out = await graph.run({
        ...p,
        x: f32([s.R, s.L, s.d], x),
        y: f32([s.R, s.L, s.d], y),
        dead: f32([s.L, 1, s.W], dead),
      });
      const want = oracleStep(kind, p, x, y, dead, s);
      expect(out.loss.data[0]).toBeCloseTo(want.loss, 4);
      expect(out.mse.data[0]).toBeCloseTo(want.mse, 5);
      for (let l = 0; l < s.L; l++) {
        expect(out.sse.data[l]).toBeCloseTo(want.sse[l], 4);
        expect(out.theta.data[l]).toBeCloseTo(want.theta[l], 5);
      }
      expect(Array.from(out.fires.data as Float32Array)).toEqual(want.fires.flat());
    });
  }
});

describe('trainDictionary', () => {
  for (const kind of ['plt', 'clt'] as const) {
    it(`${kind}: the FVU falls, L0 stays at k, and held-out metrics agree`, async () => {
      const progress: number[] = [];
      const res = await trainDictionary(rt, model, corpus(1), {
        ...small,
        kind,
        onProgress: (p) => progress.push(p.fvu),
      });
      expect(progress).toHaveLength(small.steps);
      const first = progress.slice(0, 5).reduce((a, b) => a + b) / 5;
      const last = progress.slice(-5).reduce((a, b) => a + b) / 5;
      expect(last).toBeLessThan(first * 0.5);
      expect(res.curve.at(-1)?.l0).toBeCloseTo(small.k, 5);
      const dict = res.dictionary;
      expect(dict.kind).toBe(kind);
      expect(dict.layers.map((l) => l.layer)).toEqual([0, 1]);
      expect(dict.activation).toEqual({ kind: 'jumprelu', rectify: false });
      if (kind === 'clt') expect(dict.layers[0].wDec?.shape).toEqual([48, 2, 16]);

      const ev = await evaluateDictionary(rt, model, dict, corpus(99), {
        excludeTokens: [BOS],
        maxBatches: 4,
      });
      expect(ev.tokens).toBe(4 * 8 * 15);
      expect(ev.fvu).toBeLessThan(0.5);
      // Held-out FVU with the JumpReLU conversion tracks the BatchTopK training FVU.
      expect(Math.abs(ev.fvu - last)).toBeLessThan(0.1);
      // The JumpReLU threshold from the last steps' batch thresholds keeps L0 near k on new tokens.
      expect(ev.meanL0).toBeGreaterThan(small.k / 2);
      expect(ev.meanL0).toBeLessThan(small.k * 2);
      expect(ev.deadFraction).toBeLessThan(0.8);
      expect(ev.deadFraction).toBeCloseTo(
        ev.deadPerLayer.reduce((x, y) => x + y) / ev.deadPerLayer.length,
        6,
      );
      // Thresholds out of reach silence every feature of layer 0: all of them count dead, and no others.
      const silenced = {
        ...dict,
        layers: dict.layers.map((l, i) =>
          i === 0 && l.threshold
            ? { ...l, threshold: f32([dict.dTc], new Float32Array(dict.dTc).fill(1e30)) }
            : l,
        ),
      };
      const dead = await evaluateDictionary(rt, model, silenced, corpus(99), {
        excludeTokens: [BOS],
        maxBatches: 4,
      });
      expect(dead.deadPerLayer[0]).toBe(1);
      expect(dead.deadPerLayer.slice(1)).toEqual(ev.deadPerLayer.slice(1));
    });
  }

  it('round-trips through the circuit-tracer writer and computes the same reconstruction', async () => {
    const res = await trainDictionary(rt, model, corpus(2), { ...small, kind: 'clt', steps: 20 });
    const files = memoryFiles();
    await writeDictionary('/clt', files, res.dictionary);
    const back = await loadDictionary('/clt', files);
    const x = f32(
      [2, 5, 16],
      Array.from({ length: 160 }, (_, i) => Math.sin(i)),
    );
    const a = await runDictionary(rt, res.dictionary, x);
    const b = await runDictionary(rt, back, x);
    expect(Array.from(b.recon?.data ?? [])).toEqual(Array.from(a.recon?.data ?? []));
  });

  it('rejects bad options and stops on abort', async () => {
    await expect(trainDictionary(rt, model, corpus(3), { ...small, kind: 'plt', width: 0 })).rejects.toThrow(
      /width/,
    );
    await expect(trainDictionary(rt, model, corpus(3), { ...small, kind: 'plt', k: 100 })).rejects.toThrow(
      /k 100 exceeds/,
    );
    await expect(
      trainDictionary(rt, model, corpus(3), { ...small, kind: 'plt', bufferRows: 100 }),
    ).rejects.toThrow(/bufferRows/);
    await expect(trainDictionary(rt, model, corpus(3), { ...small, kind: 'sae', layer: 5 })).rejects.toThrow(
      /layer 5/,
    );
    await expect(
      trainDictionary(rt, model, corpus(3), {
        ...small,
        kind: 'sae',
        hooks: { input: 'hook_resid_mid', output: 'hook_resid_post' },
      }),
    ).rejects.toThrow(/same hook/);
    await expect(
      trainDictionary(rt, model, corpus(3), { ...small, kind: 'plt', hooks: { input: 'attn.hook_pattern' } }),
    ).rejects.toThrow(/\[T, d_model\] activations/);
    await expect(trainDictionary(rt, model, [], { ...small, kind: 'plt' })).rejects.toThrow(
      /ended after 0 batches/,
    );
    await expect(
      trainDictionary(rt, model, [[Int32Array.of(0, 99)]], { ...small, kind: 'plt' }),
    ).rejects.toThrow(/token 99 outside \[0, 40\)/);
    await expect(
      trainDictionary(rt, model, [[new Int32Array(17)]], { ...small, kind: 'plt' }),
    ).rejects.toThrow(/17 tokens exceed the context length 16/);
    const ctl = new AbortController();
    const run = trainDictionary(rt, model, corpus(3), {
      ...small,
      kind: 'plt',
      onProgress: (p) => {
        if (p.step === 3) ctl.abort();
      },
      signal: ctl.signal,
    });
    await expect(run).rejects.toThrow(/aborted/);
  });
});

/** Σ −log softmax(logits)[target] over the masked positions, and their count. */
function nll(logits: F32, seqs: Int32Array[]): { sum: number; n: number } {
  const V = config.dVocab;
  let sum = 0;
  let n = 0;
  seqs.forEach((s, b) => {
    for (let t = 0; t + 1 < s.length; t++) {
      if (s[t + 1] === BOS) continue;
      const row = logits.data.subarray((b * s.length + t) * V, (b * s.length + t + 1) * V);
      const max = Math.max(...row);
      const lse = max + Math.log(row.reduce((a, v) => a + Math.exp(v - max), 0));
      sum += lse - row[s[t + 1]];
      n++;
    }
  });
  return { sum, n };
}

describe('evaluateDictionary', () => {
  it('matches an oracle built from Model.run and runDictionary for a single-layer SAE', async () => {
    const { dictionary: sae } = await trainDictionary(rt, model, corpus(4), {
      ...small,
      kind: 'sae',
      layer: 1,
      steps: 40,
    });
    const hook: HookName = 'blocks.1.hook_resid_post';
    const batches = [...Array.from({ length: 2 }, (_, i) => corpus(50 + i).next().value as Int32Array[])];
    let clean = 0;
    let spliced = 0;
    let zero = 0;
    let n = 0;
    let sse = 0;
    const ys: number[][] = [];
    let active = 0;
    for (const seqs of batches) {
      const base = await model.run(seqs, { hooks: [hook] });
      const h = base.cache.get(hook) as F32; // [B, T, d]
      const [B, T, d] = h.shape;
      const recon = new Float32Array(h.data.length);
      for (let b = 0; b < B; b++) {
        const x = f32([1, T, d], h.data.slice(b * T * d, (b + 1) * T * d));
        const out = await runDictionary(rt, sae, x);
        const r = (out.recon as F32).data;
        for (let t = 0; t < T; t++) {
          const at = (b * T + t) * d;
          const bos = seqs[b][t] === BOS;
          for (let j = 0; j < d; j++) recon[at + j] = bos ? h.data[at + j] : r[t * d + j];
          if (bos) continue;
          ys.push(Array.from(h.data.subarray(at, at + d)));
          for (let j = 0; j < d; j++) sse += (r[t * d + j] - h.data[at + j]) ** 2;
          for (let f = 0; f < sae.dTc; f++) if (out.acts.data[t * sae.dTc + f] !== 0) active++;
        }
      }
      const zeroed = Float32Array.from(h.data, (v, i) =>
        seqs[Math.floor(i / (T * d))][Math.floor(i / d) % T] === BOS ? v : 0,
      );
      const c = nll(base.logits, seqs);
      clean += c.sum;
      n += c.n;
      spliced += nll(
        (await model.run(seqs, { freeze: [{ hook, value: f32(h.shape, recon) }] })).logits,
        seqs,
      ).sum;
      zero += nll(
        (await model.run(seqs, { freeze: [{ hook, value: f32(h.shape, zeroed) }] })).logits,
        seqs,
      ).sum;
    }
    const mean = ys[0].map((_, j) => ys.reduce((a, y) => a + y[j], 0) / ys.length);
    const sst = ys.reduce((a, y) => a + y.reduce((s, v, j) => s + (v - mean[j]) ** 2, 0), 0);

    const ev = await evaluateDictionary(rt, model, sae, batches, { excludeTokens: [BOS] });
    expect(ev.tokens).toBe(ys.length);
    expect(ev.loss.targets).toBe(n);
    expect(ev.loss.clean).toBeCloseTo(clean / n, 4);
    expect(ev.loss.spliced).toBeCloseTo(spliced / n, 4);
    expect(ev.loss.zeroAblated).toBeCloseTo(zero / n, 4);
    expect(ev.loss.recovered).toBeCloseTo((zero - spliced) / (zero - clean), 2);
    expect(ev.fvu).toBeCloseTo(sse / sst, 3);
    expect(ev.meanL0).toBeCloseTo(active / ys.length, 5);
    // One sequence per graph run gives the same numbers.
    const sliced = await evaluateDictionary(rt, model, sae, batches, {
      excludeTokens: [BOS],
      maxLogitsPerRun: 16 * config.dVocab,
    });
    expect(sliced.tokens).toBe(ev.tokens);
    expect(sliced.loss.spliced).toBeCloseTo(ev.loss.spliced, 5);
    expect(sliced.fvu).toBeCloseTo(ev.fvu, 5);
  });

  it('rejects a mismatched dictionary and an empty corpus', async () => {
    const { dictionary } = await trainDictionary(rt, model, corpus(5), { ...small, kind: 'plt', steps: 2 });
    const wrong: Dictionary = { ...dictionary, dModel: 8 };
    await expect(evaluateDictionary(rt, model, wrong, corpus(6))).rejects.toThrow(/d_model 8/);
    await expect(evaluateDictionary(rt, model, dictionary, [])).rejects.toThrow(/no usable positions/);
  });
});

describe('buildFeatureIndex', () => {
  it('records every feature with densities matching the dictionary, and writes a readable index', async () => {
    const { dictionary } = await trainDictionary(rt, model, corpus(7), { ...small, kind: 'plt', steps: 60 });
    const batches = [corpus(70).next().value as Int32Array[], corpus(71).next().value as Int32Array[]];
    const res = await buildFeatureIndex(rt, model, dictionary, batches, {
      tokenString: (id) => `tok${id}`,
      excludeTokens: [BOS],
      logitTokens: 3,
    });
    expect(res.contexts).toBe(16);
    expect(res.tokens).toBe(16 * 15);
    // Oracle: dense activations per sequence from runDictionary on the cached input hooks.
    const counts = [new Float64Array(48), new Float64Array(48)];
    for (const seqs of batches) {
      const hooks: HookName[] = ['blocks.0.ln2.hook_normalized', 'blocks.1.ln2.hook_normalized'];
      const run = await model.run(seqs, { hooks });
      for (let b = 0; b < seqs.length; b++) {
        const x = new Float32Array(2 * 16 * 16);
        hooks.forEach((h, l) => {
          x.set((run.cache.get(h) as F32).data.subarray(b * 256, (b + 1) * 256), l * 256);
        });
        const { acts } = await runDictionary(rt, dictionary, f32([2, 16, 16], x), { reconstruction: false });
        for (let l = 0; l < 2; l++) {
          for (let t = 1; t < 16; t++)
            for (let f = 0; f < 48; f++) if (acts.data[(l * 16 + t) * 48 + f] !== 0) counts[l][f]++;
        }
      }
    }
    for (const l of [0, 1]) {
      const feats = res.features.get(l) ?? [];
      expect(feats).toHaveLength(48);
      feats.forEach((rec, f) => {
        expect(featureJsonSchema.safeParse(rec).success).toBe(true);
        expect(rec.activation_frequency).toBeCloseTo(counts[l][f] / (16 * 15), 10);
        expect(rec.top_logits).toHaveLength(3);
        for (const q of rec.examples_quantiles)
          for (const ex of q.examples) expect(ex.tokens[0]).toBe('tok0');
      });
      expect(res.labels.get(l)).toHaveLength(48);
    }
    // Oracle for the logit effects: each decoder row without its decoder-bias component, through the
    // unembedding, ranked in JS; the record keeps the values of the ranked tokens, in rank order.
    const U = model.weights.unembed.data; // [16, 40]
    for (const [li, l] of [0, 1].entries()) {
      const wDec = dictionary.layers[li].wDec?.data as Float32Array; // [48, 16]
      (res.features.get(l) ?? []).forEach((rec, f) => {
        const row = withoutBiasDirection(
          wDec.subarray(f * 16, (f + 1) * 16),
          dictionary.layers[li].bDec.data,
        );
        const eff = Float32Array.from({ length: 40 }, (_, v) =>
          row.reduce((s, x, j) => s + x * U[j * 40 + v], 0),
        );
        const want = topBottomIndices(eff, 3);
        expect(rec.top_logits).toEqual(want.top.map((v) => `tok${v}`));
        expect(rec.bottom_logits).toEqual(want.bottom.map((v) => `tok${v}`));
        const top = rec.top_logit_values ?? [];
        const bottom = rec.bottom_logit_values ?? [];
        expect(top).toHaveLength(3);
        expect(bottom).toHaveLength(3);
        for (let i = 0; i < 3; i++) {
          expect(top[i]).toBeCloseTo(eff[want.top[i]], 4);
          expect(bottom[i]).toBeCloseTo(eff[want.bottom[i]], 4);
        }
        expect(top).toEqual([...top].sort((a, b) => b - a));
        expect(bottom).toEqual([...bottom].sort((a, b) => a - b));
      });
    }
    const files = memoryFiles();
    await writeFeatureIndexDir(files, '/features', res);
    const reader = await FeatureIndexReader.open(files, '/features');
    expect(reader.layers()).toEqual([0, 1]);
    expect(await reader.read(1, 5)).toEqual(res.features.get(1)?.[5]);
    const labels = JSON.parse(new TextDecoder().decode(await files.readFile('/features/labels.json')));
    expect(labels['0']).toEqual(res.labels.get(0));
  });
});
