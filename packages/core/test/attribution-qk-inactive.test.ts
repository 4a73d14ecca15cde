/**
 * Attention edges in graphs (what each edge carries into a target, QK decompositions written with the graph)
 * and inactive-but-inhibited features, checked against values of the clean run computed independently.
 */
import { describe, expect, it } from 'vitest';
import { toDense } from '../src/attribution/graph.ts';
import { findInhibitedFeatures } from '../src/attribution/inactive.ts';
import { createGraphJson, importGraphJson } from '../src/attribution/json.ts';
import { topFlows } from '../src/attribution/qk-graph.ts';
import { createTracer, prepareTrace } from '../src/attribution/trace.ts';
import { attribute } from '../src/attribution/trace-attribute.ts';
import { AttributionRequestError, attributeAttentionEdge } from '../src/attribution/trace-qk.ts';
import { referenceEncode } from '../src/dictionary/reference.ts';
import type { DictionaryHooks } from '../src/dictionary/types.ts';
import type { Architecture } from '../src/model/config.ts';
import { initWeights } from '../src/model/init.ts';
import { Model } from '../src/model/model.ts';
import { nodeRuntime } from '../src/node/runtime.ts';
import { f32 } from '../src/tensor/host.ts';
import { type DictCase, randomDictionary } from './attribution-trace-fixtures.ts';
import { tinyConfig } from './model-configs.ts';

const rt = nodeRuntime();
const tokens = Int32Array.from([1, 7, 3, 12, 5, 9, 3]);
const T = tokens.length;
const hooks = (input: DictionaryHooks['input'], output: DictionaryHooks['output']): DictionaryHooks => ({
  input,
  output,
});
const llamaPlt: DictCase = {
  kind: 'plt',
  activation: { kind: 'jumprelu', rectify: false },
  skip: true,
  hooks: hooks('mlp.hook_in', 'mlp.hook_out'),
};
const gpt2Clt: DictCase = {
  kind: 'clt',
  activation: { kind: 'relu' },
  skip: false,
  hooks: hooks('hook_resid_mid', 'hook_mlp_out'),
};

async function setup(arch: Architecture, c: DictCase, seed: number) {
  const config = { ...tinyConfig(arch), nLayers: 3 };
  const model = await Model.create(config, initWeights(config, { seed, std: 0.4 }), undefined, rt);
  const dict = randomDictionary(config, c, seed + 100);
  return { config, model, dict };
}

describe('attention flows', () => {
  /**
   * A cotangent u injected at hook_resid_pre of layer l + 1, position q, reaches layer l's attention only at
   * query q, so the flows of layer l summed over heads and keys are u · (attention output at q, less b_O) =
   * u · (resid_pre[l + 1] − mlp_out[l] − resid_pre[l] − b_O)[q], all values of the clean run. (Without a skip
   * path: a skip transcoder carries the cotangent from the MLP output back into the attention output too.)
   */
  for (const [arch, c] of [
    ['llama', { ...llamaPlt, skip: false }],
    ['gpt2', gpt2Clt],
    // Post-norms with their scales frozen are linear too; hook_mlp_out is the MLP's output after its post-norm.
    ['gemma2', gpt2Clt],
  ] as const) {
    it(`${arch}: sum to the attention output a cotangent reads`, async () => {
      const { config, model, dict } = await setup(arch, c, 41);
      const ctx = await prepareTrace(model, dict, tokens);
      const tracer = await createTracer(model, dict, ctx, new Float32Array(config.dModel));
      const { dModel: d } = config;
      const H = config.nHeads;
      const l = 1;
      const q = T - 2;
      const u = Float32Array.from({ length: d }, (_, i) => Math.sin(i + 1));
      const flows = await tracer.attentionFlows(u, { kind: 'residPre', layer: l + 1, pos: q });
      await tracer.close();
      const bO = model.weights.layers[l].attn.bO?.data;
      let expected = 0;
      for (let i = 0; i < d; i++) {
        const at = (arr: Float32Array, layer: number) => arr[(layer * T + q) * d + i];
        const attnOut =
          at(ctx.residPre, l + 1) - at(ctx.mlpOutputs, l) - at(ctx.residPre, l) - (bO ? bO[i] : 0);
        expected += u[i] * attnOut;
      }
      let sum = 0;
      let elsewhere = 0;
      let below = 0;
      for (let h = 0; h < H; h++) {
        for (let qq = 0; qq < T; qq++) {
          for (let k = 0; k < T; k++) {
            const v = flows[((l * H + h) * T + qq) * T + k];
            if (qq === q) sum += v;
            else elsewhere += Math.abs(v);
            if (k > qq) expect(v).toBe(0);
            below += Math.abs(flows[(((l - 1) * H + h) * T + qq) * T + k]);
            expect(flows[(((l + 1) * H + h) * T + qq) * T + k]).toBe(0);
          }
        }
      }
      expect(Math.abs(expected)).toBeGreaterThan(1e-2);
      expect(Math.abs(sum - expected)).toBeLessThan(1e-4 * Math.max(1, Math.abs(expected)));
      expect(elsewhere).toBe(0);
      expect(below).toBeGreaterThan(0);
      const top = topFlows(flows, config.nLayers, H, T, 3);
      expect(top.length).toBe(3);
      expect(Math.abs(top[0].carried)).toBeGreaterThanOrEqual(Math.abs(top[2].carried));
    });
  }
});

describe('attribute with QK edges and inactive features', () => {
  it('decomposes the requested edges and the top edges into a node, and writes them to the JSON', async () => {
    const { config, model, dict } = await setup('llama', llamaPlt, 43);
    const edge = { layer: 2, head: 1, queryPos: T - 1, keyPos: 2 };
    const plain = await attribute(model, dict, { tokens }, { targets: { kind: 'salient', maxNLogits: 2 } });
    const f = plain.selectedFeatures.length - 1;
    const a = plain.activeFeatures.subarray(3 * plain.selectedFeatures[f], 3 * plain.selectedFeatures[f] + 3);
    const into = `${a[0]}_${a[2]}_${a[1]}`;
    const logitId = `${config.nLayers + 1}_${plain.logitTargets[0].vocabIdx}_${T - 1}`;
    const graph = await attribute(
      model,
      dict,
      { tokens },
      {
        targets: { kind: 'salient', maxNLogits: 2 },
        qk: { edges: [edge], into: [into, logitId], top: 3, pairs: 4 },
      },
    );
    expect(toDense(graph.adjacency).data).toEqual(toDense(plain.adjacency).data);
    const qk = graph.qk ?? [];
    expect(qk.length).toBe(1 + 3 + 3);
    // The requested edge: the same decomposition as attributeAttentionEdge, and the clean pattern value.
    const ctx = await prepareTrace(model, dict, graph.inputTokens);
    const tracer = await createTracer(model, dict, ctx, new Float32Array(config.dModel));
    const direct = await attributeAttentionEdge(model, tracer, edge);
    await tracer.close();
    expect(qk[0].score).toBeCloseTo(direct.score, 5);
    const H = config.nHeads;
    expect(qk[0].pattern).toBe(ctx.frozen.patterns[((2 * H + 1) * T + T - 1) * T + 2]);
    expect(qk[0].pairs.length).toBe(4);
    expect(qk[0].into).toBeUndefined();
    // Edges into the feature come from layers below it, at positions up to its own, largest |carried| first.
    const intoFeature = qk.slice(1, 4);
    for (const e of intoFeature) {
      expect(e.into?.nodeId).toBe(into);
      expect(e.layer).toBeLessThanOrEqual(a[0]);
      expect(e.queryPos).toBeLessThanOrEqual(a[1]);
      expect(e.keyPos).toBeLessThanOrEqual(e.queryPos);
    }
    const carried = intoFeature.map((e) => Math.abs(e.into?.carried ?? 0));
    expect(carried[0]).toBeGreaterThanOrEqual(carried[2]);
    expect(carried[2]).toBeGreaterThan(0);
    expect(qk[4].into?.nodeId).toBe(logitId);

    const json = createGraphJson(graph, {
      slug: 'qk',
      decodeToken: String,
      nodeThreshold: 1,
      edgeThreshold: 1,
    });
    const written = json.loupe?.qk ?? [];
    expect(written.length).toBe(7);
    expect(written[0]).toMatchObject({ layer: 2, head: 1, query: T - 1, key: 2 });
    const ids = new Set(json.nodes.map((n) => n.node_id));
    for (const p of written.flatMap((e) => e.pairs))
      for (const s of [p.q, p.k]) {
        if (s.kind === 'constant') continue;
        expect(s.in_graph).toBe(ids.has(s.node_id as string));
      }
    const back = importGraphJson(JSON.stringify(json));
    expect(back.loupe?.qk).toEqual(json.loupe?.qk);
  });

  it('rejects edges and nodes the prompt does not have', async () => {
    const { model, dict } = await setup('llama', llamaPlt, 44);
    const run = (qk: object) => attribute(model, dict, { tokens }, { qk });
    await expect(run({ edges: [{ layer: 0, head: 0, queryPos: 1, keyPos: 3 }] })).rejects.toThrow(
      AttributionRequestError,
    );
    await expect(run({ edges: [{ layer: 5, head: 0, queryPos: 3, keyPos: 1 }] })).rejects.toThrow(/layer 5/);
    await expect(run({ edges: [{ layer: 0, head: 0, queryPos: T, keyPos: 1 }] })).rejects.toThrow(
      /query position/,
    );
    await expect(run({ into: ['2_999_3'] })).rejects.toThrow(/not an active feature/);
    await expect(run({ into: ['err_1_2'] })).rejects.toThrow(AttributionRequestError);
    await expect(run({ into: ['4_7_1'] })).rejects.toThrow(/not a logit target/);
    // Per-head q/k norms (not decomposed by attributeAttentionEdge) are refused, for ranked edges too.
    const qwen3 = await setup('qwen3', llamaPlt, 46);
    await expect(attribute(qwen3.model, qwen3.dict, { tokens }, { qk: { into: ['0_0_1'] } })).rejects.toThrow(
      /q\/k norms/,
    );
  });

  it('adds inhibited inactive features as targets that change nothing else', async () => {
    const { config, model, dict } = await setup('llama', llamaPlt, 45);
    const perSite = 2;
    const plain = await attribute(model, dict, { tokens });
    const graph = await attribute(model, dict, { tokens }, { inactivePerSite: perSite });
    expect(toDense(graph.adjacency).data).toEqual(toDense(plain.adjacency).data);
    const inactive = graph.inactive;
    if (!inactive) throw new Error('no inactive features');
    const M = inactive.preActivations.length;
    expect(M).toBeGreaterThan(0);
    expect(M).toBeLessThanOrEqual(perSite * config.nLayers * (T - 1));
    const ctx = await prepareTrace(model, dict, graph.inputTokens);
    const d = config.dModel;
    const nActive = graph.activeFeatures.length / 3;
    const rowSize = nActive + (config.nLayers + 1) * T;
    const activeKeys = new Set<string>();
    for (let i = 0; i < nActive; i++)
      activeKeys.add(graph.activeFeatures.subarray(3 * i, 3 * i + 3).join(','));
    for (let m = 0; m < M; m++) {
      const [l, p, g] = inactive.features.subarray(3 * m, 3 * m + 3);
      expect(p).toBeGreaterThanOrEqual(1);
      expect(activeKeys.has(`${l},${p},${g}`)).toBe(false);
      const x = f32([1, d], ctx.inputs.slice((l * T + p) * d, (l * T + p + 1) * d));
      const pre = referenceEncode(dict, l, x).pre.data[g];
      expect(inactive.preActivations[m]).toBeCloseTo(pre, 4);
      let inputs = 0;
      for (let c = 0; c < rowSize; c++) inputs += inactive.rows[m * rowSize + c];
      expect(inputs).toBeLessThan(0);
      expect(Math.abs(inputs + inactive.bias[m] - pre)).toBeLessThan(1e-4 * Math.max(1, Math.abs(pre)));
    }
    // The choice at one site: the most negative direct inputs among all of that site's inactive features.
    const [l0, p0] = inactive.features.subarray(0, 2);
    const tracer = await createTracer(model, dict, ctx, new Float32Array(d));
    const width = dict.layers[l0].bEnc.data.length;
    const candidates = Array.from({ length: width }, (_, g) => g).filter(
      (g) => !activeKeys.has(`${l0},${p0},${g}`),
    );
    const vectors = new Float32Array(candidates.length * d);
    candidates.forEach((g, b) => {
      vectors.set(dict.layers[l0].wEnc.data.subarray(g * d, (g + 1) * d), b * d);
    });
    const rows = await tracer.injectedRows(
      vectors,
      candidates.map(() => ({ kind: 'featureInput' as const, layer: l0, pos: p0 })),
    );
    const again = await findInhibitedFeatures(model, dict, tracer, perSite, 1);
    await tracer.close();
    expect(Array.from(again.features)).toEqual(Array.from(inactive.features));
    const totals = candidates.map((g, b) => ({
      g,
      v: rows.subarray(b * rowSize, (b + 1) * rowSize).reduce((s, x) => s + x, 0),
    }));
    const expected = totals
      .filter((t) => t.v < 0)
      .sort((a, b) => a.v - b.v)
      .slice(0, perSite)
      .map((t) => t.g)
      .sort((a, b) => a - b);
    const chosen: number[] = [];
    for (let m = 0; m < M; m++)
      if (inactive.features[3 * m] === l0 && inactive.features[3 * m + 1] === p0)
        chosen.push(inactive.features[3 * m + 2]);
    expect(chosen).toEqual(expected);

    const json = createGraphJson(graph, { slug: 'inactive', decodeToken: String });
    const plainJson = createGraphJson(plain, { slug: 'inactive', decodeToken: String });
    const added = json.nodes.filter((n) => n.inactive);
    expect(added.length).toBe(M);
    for (const n of added) expect(n.activation).toBe(0);
    expect(json.loupe?.inactive?.targets.length).toBe(M);
    expect(json.loupe?.scores).toEqual(plainJson.loupe?.scores);
    expect(json.loupe?.bias).toEqual(plainJson.loupe?.bias);
    const addedIds = new Set(added.map((n) => n.node_id));
    const into = json.links.filter((k) => addedIds.has(k.target));
    expect(into.length).toBeGreaterThan(0);
    expect(into.some((k) => k.weight < 0)).toBe(true);
    expect(json.links.some((k) => addedIds.has(k.source))).toBe(false);
    const back = importGraphJson(JSON.stringify(json));
    expect(JSON.parse(JSON.stringify(back))).toEqual(JSON.parse(JSON.stringify(json)));
  });
});
