import { readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadCheckpoint } from '../src/io/checkpoint.ts';
import { toHfTensors } from '../src/io/checkpoint-save.ts';
import { SafetensorsFile, writeSafetensors } from '../src/io/safetensors.ts';
import type { Architecture } from '../src/model/config.ts';
import type { ModelWeights } from '../src/model/weights.ts';
import { nodeFiles } from '../src/node/files.ts';
import type { F32 } from '../src/tensor/host.ts';
import { removeFixtureDirs, writeRandomCheckpoint } from './fixtures/checkpoints.ts';

afterAll(removeFixtureDirs);

const files = nodeFiles();
const ARCHS: Architecture[] = ['gpt2', 'llama', 'gemma2', 'qwen2', 'qwen3'];

/** Every tensor of two weight trees, paired by path. */
function leaves(w: unknown, path = ''): Map<string, F32> {
  const out = new Map<string, F32>();
  if (w && typeof w === 'object') {
    if ('dtype' in w && 'data' in w) out.set(path, w as F32);
    else
      for (const [k, v] of Object.entries(w)) for (const [p, t] of leaves(v, `${path}.${k}`)) out.set(p, t);
  }
  return out;
}

function maxDiff(a: ModelWeights, b: ModelWeights): number {
  const la = leaves(a);
  const lb = leaves(b);
  expect([...lb.keys()].sort()).toEqual([...la.keys()].sort());
  let m = 0;
  for (const [p, t] of la) {
    const u = lb.get(p)!;
    expect(u.shape, p).toEqual(t.shape);
    for (let i = 0; i < t.data.length; i++) m = Math.max(m, Math.abs(t.data[i] - u.data[i]));
  }
  return m;
}

describe('checkpoint save -> load', () => {
  for (const arch of ARCHS) {
    it(`${arch}: HF names map back to identical canonical weights`, async () => {
      const ck = await writeRandomCheckpoint(arch, { seed: 7 });
      const loaded = await loadCheckpoint(ck.dir, files);
      expect(loaded.config).toEqual(ck.config);
      // Gemma's (1 + w) fold/unfold may move a norm weight by one float32 ulp.
      expect(maxDiff(ck.weights, loaded.weights)).toBeLessThanOrEqual(arch === 'gemma2' ? 3e-7 : 0);
      expect(loaded.tokenizer?.vocabSize).toBe(ck.config.dVocab);
    });
  }

  it('writes the real HF tensor names', async () => {
    const g = await writeRandomCheckpoint('gemma2');
    const f = await SafetensorsFile.open(await files.open(join(g.dir, 'model.safetensors')));
    expect(f.names()).toContain('model.layers.1.pre_feedforward_layernorm.weight');
    expect(f.names()).toContain('model.layers.0.post_feedforward_layernorm.weight');
    expect(f.names()).not.toContain('lm_head.weight');
    expect(f.info('model.layers.0.self_attn.k_proj.weight').shape).toEqual([8, 16]); // [out, in]
    await f.close();
    const p = await writeRandomCheckpoint('gpt2');
    const h = toHfTensors(p.config, p.weights);
    expect(h['transformer.h.0.attn.c_attn.weight'].shape).toEqual([16, 48]); // Conv1D [in, out]
    expect(Object.keys(h)).not.toContain('lm_head.weight');
    const q = await writeRandomCheckpoint('qwen2');
    const hq = toHfTensors(q.config, q.weights);
    expect(Object.keys(hq)).toContain('model.layers.0.self_attn.q_proj.bias');
    expect(Object.keys(hq)).not.toContain('model.layers.0.self_attn.o_proj.bias');
  });

  it('loads sharded checkpoints through model.safetensors.index.json', async () => {
    const ck = await writeRandomCheckpoint('llama', { shards: 3 });
    const names = await readdir(ck.dir);
    expect(names).toContain('model-00002-of-00003.safetensors');
    expect(names).not.toContain('model.safetensors');
    const loaded = await loadCheckpoint(ck.dir, files);
    expect(maxDiff(ck.weights, loaded.weights)).toBe(0);
  });

  it('loads F16 and BF16 checkpoints as float32 within their precision', async () => {
    for (const [dtype, tol] of [
      ['F16', 2 ** -10],
      ['BF16', 2 ** -7],
    ] as const) {
      const ck = await writeRandomCheckpoint('qwen3', { dtype });
      const f = await SafetensorsFile.open(await files.open(join(ck.dir, 'model.safetensors')));
      expect(f.info('model.embed_tokens.weight').dtype).toBe(dtype);
      await f.close();
      const loaded = await loadCheckpoint(ck.dir, files);
      const d = maxDiff(ck.weights, loaded.weights);
      expect(d).toBeGreaterThan(0);
      expect(d).toBeLessThanOrEqual(tol * 1.25);
    }
  });

  it('loads GPT-2 names without the transformer. prefix (as on the original gpt2 repo)', async () => {
    const ck = await writeRandomCheckpoint('gpt2');
    const f = await SafetensorsFile.open(await files.open(join(ck.dir, 'model.safetensors')));
    const renamed: Record<string, F32> = {};
    for (const n of f.names()) renamed[n.replace(/^transformer\./, '')] = await f.readF32(n);
    await f.close();
    await writeFile(join(ck.dir, 'model.safetensors'), writeSafetensors(renamed));
    const loaded = await loadCheckpoint(ck.dir, files);
    expect(maxDiff(ck.weights, loaded.weights)).toBe(0);
  });

  it('names the missing tensor and the file', async () => {
    const ck = await writeRandomCheckpoint('llama');
    const path = join(ck.dir, 'model.safetensors');
    const f = await SafetensorsFile.open(await files.open(path));
    const kept: Record<string, F32> = {};
    for (const n of f.names()) if (n !== 'model.layers.1.mlp.down_proj.weight') kept[n] = await f.readF32(n);
    await f.close();
    await writeFile(path, writeSafetensors(kept));
    await expect(loadCheckpoint(ck.dir, files)).rejects.toThrow(
      new RegExp(`${path}: missing tensor 'model.layers.1.mlp.down_proj.weight'`),
    );
  });

  it('names a tensor with the wrong shape', async () => {
    const ck = await writeRandomCheckpoint('qwen2');
    const path = join(ck.dir, 'model.safetensors');
    const f = await SafetensorsFile.open(await files.open(path));
    const all: Record<string, F32> = {};
    for (const n of f.names()) all[n] = await f.readF32(n);
    await f.close();
    all['model.norm.weight'] = { dtype: 'float32', shape: [15], data: new Float32Array(15) };
    await writeFile(path, writeSafetensors(all));
    await expect(loadCheckpoint(ck.dir, files)).rejects.toThrow(
      /'model.norm.weight' has shape \[15\], expected \[16\]/,
    );
  });

  it('reports malformed directories and files clearly', async () => {
    const ck = await writeRandomCheckpoint('qwen3');
    await writeFile(join(ck.dir, 'config.json'), '{"architectures": ["Qwen3ForCausalLM"], "vocab_size": 48');
    await expect(loadCheckpoint(ck.dir, files)).rejects.toThrow(/config.json: not valid JSON/);
    await writeFile(join(ck.dir, 'config.json'), JSON.stringify({ ...ck.hfConfig, hidden_size: 'big' }));
    await expect(loadCheckpoint(ck.dir, files)).rejects.toThrow(/field 'hidden_size'/);
    await writeFile(join(ck.dir, 'config.json'), JSON.stringify(ck.hfConfig));
    await writeFile(join(ck.dir, 'model.safetensors'), new Uint8Array(3));
    await expect(loadCheckpoint(ck.dir, files)).rejects.toThrow(
      /model.safetensors: safetensors: file has 3 bytes/,
    );
    await expect(loadCheckpoint(join(ck.dir, 'nope'), files)).rejects.toThrow(/no config.json/);
    const sharded = await writeRandomCheckpoint('llama', { shards: 2 });
    const idx = JSON.parse(await readFile(join(sharded.dir, 'model.safetensors.index.json'), 'utf8'));
    idx.weight_map['model.norm.weight'] = '../evil.safetensors';
    await writeFile(join(sharded.dir, 'model.safetensors.index.json'), JSON.stringify(idx));
    await expect(loadCheckpoint(sharded.dir, files)).rejects.toThrow(/must be a plain file name/);
  });
});
