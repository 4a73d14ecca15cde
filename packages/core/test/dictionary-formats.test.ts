import { zipSync } from 'fflate';
import { describe, expect, it } from 'vitest';
import { memoryFiles } from '../src/browser/files.ts';
import {
  type ActivationSpec,
  type Dictionary,
  type DictionaryKind,
  loadDictionary,
  validateAgainstModel,
  writeDictionary,
} from '../src/dictionary/index.ts';
import { bytesSource, type FileAccess } from '../src/io/files.ts';
import { writeNpy } from '../src/io/npz.ts';
import { SafetensorsFile, writeSafetensors } from '../src/io/safetensors.ts';
import type { ModelConfig } from '../src/model/config.ts';
import { type F32, f32 } from '../src/tensor/host.ts';
import { rng } from './fixtures/checkpoints.ts';
import { makeRandomDictionary, randomTensor } from './fixtures/dictionaries.ts';

/** Non-negative thresholds; an SAE reads and writes hook_resid_post and subtracts b_dec, as SAELens files do. */
function makeDict(
  kind: DictionaryKind,
  o: { nL?: number; d?: number; tc?: number; act?: ActivationSpec; skip?: boolean; layer?: number } = {},
): Dictionary {
  const sae = kind === 'sae';
  const nLayers = sae ? 1 : (o.nL ?? 3);
  const dModel = o.d ?? 4;
  const dTc = o.tc ?? 6;
  return makeRandomDictionary({
    kind,
    activation: o.act ?? { kind: 'jumprelu', rectify: sae },
    skip: o.skip,
    hooks: sae
      ? { input: 'hook_resid_post', output: 'hook_resid_post' }
      : { input: 'hook_resid_mid', output: 'hook_mlp_out' },
    applyBDecToInput: sae,
    saeLayer: o.layer ?? 2,
    nLayers,
    dModel,
    dTc,
    seed: nLayers * 100 + dModel * 10 + dTc,
    threshold: (u) => Math.abs(u - 0.5) * 0.2,
  });
}

function expectSameTensors(a: Dictionary, b: Dictionary): void {
  expect(b.kind).toBe(a.kind);
  expect(b.dModel).toBe(a.dModel);
  expect(b.dTc).toBe(a.dTc);
  expect(b.activation).toEqual(a.activation);
  expect(b.hooks).toEqual(a.hooks);
  expect(b.layers.length).toBe(a.layers.length);
  a.layers.forEach((la, i) => {
    const lb = b.layers[i];
    expect(lb.layer).toBe(la.layer);
    for (const key of ['wEnc', 'bEnc', 'wDec', 'bDec', 'threshold', 'wSkip'] as const) {
      expect(lb[key]?.shape, key).toEqual(la[key]?.shape);
      expect(lb[key]?.data, key).toEqual(la[key]?.data);
    }
  });
}

async function keysAndShapes(files: FileAccess, path: string): Promise<Record<string, number[]>> {
  const f = await SafetensorsFile.open(bytesSource(await files.readFile(path)));
  return Object.fromEntries(f.names().map((n) => [n, [...f.info(n).shape]]));
}

const model = (o: Partial<ModelConfig>): ModelConfig => ({ nLayers: 3, dModel: 4, ...o }) as ModelConfig;

describe('circuit-tracer PLT format', () => {
  it('round-trips with exactly the reference key names and shapes', async () => {
    const files = memoryFiles();
    const dict = makeDict('plt', { skip: true });
    await writeDictionary('tc', files, dict);
    expect(await files.list('tc')).toEqual([
      'config.yaml',
      'layer_0.safetensors',
      'layer_1.safetensors',
      'layer_2.safetensors',
    ]);
    expect(await keysAndShapes(files, 'tc/layer_1.safetensors')).toEqual({
      W_enc: [6, 4],
      W_dec: [6, 4],
      b_enc: [6],
      b_dec: [4],
      'activation_function.threshold': [6],
      W_skip: [4, 4],
    });
    const cfg = await files.readText('tc/config.yaml');
    expect(cfg).toContain('model_kind: transcoder_set');
    expect(cfg).toContain('feature_input_hook: hook_resid_mid');
    expect(cfg).toContain('feature_output_hook: hook_mlp_out');
    const back = await loadDictionary('tc', files);
    expectSameTensors(dict, back);
    validateAgainstModel(back, model({}));
  });

  it('round-trips TopK (k in config.yaml and as a scalar tensor) and ReLU', async () => {
    const files = memoryFiles();
    const topk = makeDict('plt', { act: { kind: 'topk', k: 2, rectify: false } });
    await writeDictionary('topk', files, topk);
    expect(await files.readText('topk/config.yaml')).toMatch(/activation: topk[\s\S]*k: 2/);
    expect((await keysAndShapes(files, 'topk/layer_0.safetensors')).k).toEqual([]);
    expectSameTensors(topk, await loadDictionary('topk', files));
    const relu = makeDict('plt', { act: { kind: 'relu' } });
    await writeDictionary('relu', files, relu);
    expectSameTensors(relu, await loadDictionary('relu', files));
  });

  it('writes bfloat16 when asked and reads it back as the same rounded values', async () => {
    const files = memoryFiles();
    const dict = makeDict('plt');
    await writeDictionary('bf', files, dict, 'circuit-tracer', { dtype: 'bfloat16' });
    const back = await loadDictionary('bf', files);
    expect(back.dtype).toBe('bfloat16');
    await writeDictionary('bf2', files, back);
    expectSameTensors(back, await loadDictionary('bf2', files));
    expect(back.layers[0].wEnc.data[0]).toBeCloseTo(dict.layers[0].wEnc.data[0], 2);
  });

  it('lazy decoder rows equal the eager ones and read only the requested rows', async () => {
    const store = new Map<string, Uint8Array>();
    const mem = memoryFiles(store);
    const dict = makeDict('plt', { tc: 64, d: 8 });
    await writeDictionary('lazy', mem, dict);
    let bytesRead = 0;
    const counting: FileAccess = {
      ...mem,
      async open(path) {
        const src = await mem.open(path);
        return {
          size: src.size,
          read: async (o, n) => {
            bytesRead += n;
            return src.read(o, n);
          },
        };
      },
    };
    const lazy = await loadDictionary('lazy', counting, { lazyDecoder: true });
    expect(lazy.lazyDecoder).toBe(true);
    expect(lazy.layers[1].wDec).toBeUndefined();
    bytesRead = 0;
    const rows = await lazy.decoder.rows(1, [5, 3, 40]);
    expect(bytesRead).toBe(3 * 8 * 4);
    const eager = await dict.decoder.rows(1, [5, 3, 40]);
    expect(rows.shape).toEqual([3, 8]);
    expect(rows.data).toEqual(eager.data);
    await lazy.close();
  });
});

describe('circuit-tracer CLT format', () => {
  it('round-trips with W_enc_{i} / W_dec_{i} files, keys and shapes', async () => {
    const files = memoryFiles();
    const dict = makeDict('clt', { nL: 3, skip: true });
    await writeDictionary('clt', files, dict);
    expect(await files.list('clt')).toEqual([
      'W_dec_0.safetensors',
      'W_dec_1.safetensors',
      'W_dec_2.safetensors',
      'W_enc_0.safetensors',
      'W_enc_1.safetensors',
      'W_enc_2.safetensors',
      'config.yaml',
    ]);
    expect(await keysAndShapes(files, 'clt/W_enc_1.safetensors')).toEqual({
      W_enc_1: [6, 4],
      b_enc_1: [6],
      b_dec_1: [4],
      threshold_1: [6],
      W_skip_1: [4, 4],
    });
    expect(await keysAndShapes(files, 'clt/W_dec_0.safetensors')).toEqual({ W_dec_0: [6, 3, 4] });
    expect(await keysAndShapes(files, 'clt/W_dec_2.safetensors')).toEqual({ W_dec_2: [6, 1, 4] });
    expect(await files.readText('clt/config.yaml')).toContain('model_kind: cross_layer_transcoder');
    expectSameTensors(dict, await loadDictionary('clt', files));
  });

  it('stores the skip as circuit-tracer applies it (x @ W_skip, untransposed)', async () => {
    const files = memoryFiles();
    const dict = makeDict('clt', { nL: 2, skip: true });
    await writeDictionary('clt', files, dict);
    const f = await SafetensorsFile.open(bytesSource(await files.readFile('clt/W_enc_0.safetensors')));
    const onDisk = await f.readF32('W_skip_0');
    const w = dict.layers[0].wSkip!;
    expect(onDisk.data[1 * 4 + 2]).toBe(w.data[2 * 4 + 1]);
  });

  it('lazy CLT decoder rows are [n, L − l, dModel] and equal eager rows', async () => {
    const files = memoryFiles();
    const dict = makeDict('clt', { nL: 3 });
    await writeDictionary('clt', files, dict);
    const lazy = await loadDictionary('clt', files, { lazyDecoder: true });
    const rows = await lazy.decoder.rows(0, [4, 1]);
    expect(rows.shape).toEqual([2, 3, 4]);
    expect(rows.data).toEqual((await dict.decoder.rows(0, [4, 1])).data);
    await lazy.close();
  });
});

describe('SAELens format', () => {
  it('round-trips with cfg.json fields and W_enc stored [d_in, d_sae]', async () => {
    const files = memoryFiles();
    const dict = makeDict('sae', { layer: 5 });
    await writeDictionary('sae', files, dict);
    const cfg = JSON.parse(await files.readText('sae/cfg.json'));
    expect(cfg).toMatchObject({
      architecture: 'jumprelu',
      d_in: 4,
      d_sae: 6,
      apply_b_dec_to_input: true,
      normalize_activations: 'none',
      metadata: { hook_name: 'blocks.5.hook_resid_post' },
    });
    expect(await keysAndShapes(files, 'sae/sae_weights.safetensors')).toEqual({
      W_enc: [4, 6],
      W_dec: [6, 4],
      b_enc: [6],
      b_dec: [4],
      threshold: [6],
    });
    const back = await loadDictionary('sae', files);
    expectSameTensors(dict, back);
    expect(back.applyBDecToInput).toBe(true);
  });

  it('round-trips a TopK SAE and reads legacy configs (hook_point, activation_fn_str)', async () => {
    const files = memoryFiles();
    const dict = makeDict('sae', { act: { kind: 'topk', k: 3, rectify: true } });
    await writeDictionary('topk', files, dict);
    expect(JSON.parse(await files.readText('topk/cfg.json'))).toMatchObject({ architecture: 'topk', k: 3 });
    expectSameTensors(dict, await loadDictionary('topk', files));

    await files.writeFile(
      'topk/cfg.json',
      JSON.stringify({
        d_in: 4,
        d_sae: 6,
        hook_point: 'blocks.2.hook_resid_post',
        activation_fn_str: 'topk',
        activation_fn_kwargs: { k: 3 },
      }),
    );
    const legacy = await loadDictionary('topk', files);
    expect(legacy.activation).toEqual({ kind: 'topk', k: 3, rectify: true });
    expect(legacy.layers[0].layer).toBe(2);
  });
});

describe('GemmaScope params.npz', () => {
  function npz(arrays: Record<string, F32>): Uint8Array {
    return zipSync(Object.fromEntries(Object.entries(arrays).map(([k, v]) => [`${k}.npy`, writeNpy(v)])));
  }

  it('reads an SAE, transposing W_enc and inferring the hook from the path', async () => {
    const files = memoryFiles();
    const ref = makeDict('sae', { layer: 7 });
    const l = ref.layers[0];
    const wEncT = f32([4, 6]);
    for (let i = 0; i < 6; i++) for (let j = 0; j < 4; j++) wEncT.data[j * 6 + i] = l.wEnc.data[i * 4 + j];
    const dir = 'gemma-scope-2b-pt-res/layer_7/width_16k/average_l0_71';
    await files.writeFile(
      `${dir}/params.npz`,
      npz({ W_enc: wEncT, W_dec: l.wDec!, b_enc: l.bEnc, b_dec: l.bDec, threshold: l.threshold! }),
    );
    const dict = await loadDictionary(dir, files);
    expect(dict.kind).toBe('sae');
    expect(dict.applyBDecToInput).toBe(false);
    expect(dict.activation).toEqual({ kind: 'jumprelu', rectify: true });
    expectSameTensors({ ...ref, applyBDecToInput: false }, dict);
  });

  it('reads a circuit-tracer transcoder set whose config lists .npz files', async () => {
    const files = memoryFiles();
    const ref = makeDict('plt', { nL: 2 });
    const paths = await Promise.all(
      ref.layers.map(async (l, i) => {
        const wEncT = f32([4, 6]);
        for (let a = 0; a < 6; a++)
          for (let b = 0; b < 4; b++) wEncT.data[b * 6 + a] = l.wEnc.data[a * 4 + b];
        await files.writeFile(
          `gs/l${i}.npz`,
          npz({ w_enc: wEncT, w_dec: l.wDec!, b_enc: l.bEnc, b_dec: l.bDec, threshold: l.threshold! }),
        );
        return `l${i}.npz`;
      }),
    );
    await files.writeFile(
      'gs/config.yaml',
      `model_kind: transcoder_set\nfeature_input_hook: ln2.hook_normalized\nfeature_output_hook: hook_mlp_out\ntranscoders:\n${paths.map((p) => `  - ${p}\n`).join('')}`,
    );
    const dict = await loadDictionary('gs', files);
    expectSameTensors({ ...ref, hooks: { input: 'ln2.hook_normalized', output: 'hook_mlp_out' } }, dict);
  });
});

describe('malformed dictionaries give clear errors', () => {
  async function written(kind: DictionaryKind, o = {}): Promise<FileAccess> {
    const files = memoryFiles();
    await writeDictionary('d', files, makeDict(kind, o));
    return files;
  }
  const st = (t: Record<string, F32>) => writeSafetensors(t);

  it('no marker file', async () => {
    await expect(loadDictionary('nothing', memoryFiles())).rejects.toThrow(/no dictionary found/);
  });

  it('missing PLT layer (non-contiguous)', async () => {
    const files = await written('plt', { nL: 3 });
    const copy = memoryFiles();
    for (const n of ['config.yaml', 'layer_0.safetensors', 'layer_1.safetensors']) {
      await copy.writeFile(`d/${n}`, await files.readFile(`d/${n}`));
    }
    await copy.writeFile('d/layer_3.safetensors', await files.readFile('d/layer_2.safetensors'));
    await expect(loadDictionary('d', copy)).rejects.toThrow(/contiguous from 0; found 0, 1, 3, missing 2/);
  });

  it('missing CLT decoder file', async () => {
    const files = await written('clt', { nL: 2 });
    const copy = memoryFiles();
    for (const n of ['config.yaml', 'W_enc_0.safetensors', 'W_enc_1.safetensors', 'W_dec_0.safetensors']) {
      await copy.writeFile(`d/${n}`, await files.readFile(`d/${n}`));
    }
    await expect(loadDictionary('d', copy)).rejects.toThrow(/2 W_enc_\{i\} files but 1 W_dec_\{i\} files/);
  });

  it('inconsistent dTc across layers', async () => {
    const files = await written('plt', { nL: 2 });
    const r = rng(1);
    await files.writeFile(
      'd/layer_1.safetensors',
      st({
        W_enc: randomTensor([5, 4], r),
        W_dec: randomTensor([5, 4], r),
        b_enc: randomTensor([5], r),
        b_dec: randomTensor([4], r),
        'activation_function.threshold': randomTensor([5], r),
      }),
    );
    await expect(loadDictionary('d', files)).rejects.toThrow(
      /inconsistent dTc across layers: layer 0 has 6 features, layer 1 has 5/,
    );
  });

  it('wrong shape for a key', async () => {
    const files = await written('plt', { nL: 1, act: { kind: 'relu' } });
    const r = rng(2);
    await files.writeFile(
      'd/layer_0.safetensors',
      st({
        W_enc: randomTensor([4, 6], r),
        W_dec: randomTensor([6, 4], r),
        b_enc: randomTensor([6], r),
        b_dec: randomTensor([4], r),
      }),
    );
    await expect(loadDictionary('d', files)).rejects.toThrow(
      /layer_0.safetensors key 'W_enc': expected shape \[6, 4\], got \[4, 6\]/,
    );
    await files.writeFile(
      'd/layer_0.safetensors',
      st({ W_enc: randomTensor([6, 4], r), W_dec: randomTensor([6, 4], r), b_enc: randomTensor([6], r) }),
    );
    await expect(loadDictionary('d', files)).rejects.toThrow(/missing key 'b_dec'/);
    await files.writeFile(
      'd/layer_0.safetensors',
      st({
        'W_enc.weight': randomTensor([6, 4], r),
        W_dec: randomTensor([6, 4], r),
        b_enc: randomTensor([6], r),
        b_dec: randomTensor([4], r),
      }),
    );
    await expect(loadDictionary('d', files)).rejects.toThrow(/unexpected key\(s\) 'W_enc.weight'/);
  });

  it('wrong CLT decoder shape', async () => {
    const files = await written('clt', { nL: 2 });
    await files.writeFile('d/W_dec_1.safetensors', st({ W_dec_1: randomTensor([6, 2, 4], rng(3)) }));
    await expect(loadDictionary('d', files)).rejects.toThrow(
      /W_dec_1.safetensors key 'W_dec_1': expected shape \[6, 1, 4\], got \[6, 2, 4\]/,
    );
  });

  it('unknown hook names and activation', async () => {
    const files = await written('plt', { nL: 1 });
    const cfg = await files.readText('d/config.yaml');
    await files.writeFile('d/config.yaml', cfg.replace('hook_resid_mid', 'hook_resid_middle'));
    await expect(loadDictionary('d', files)).rejects.toThrow(
      /feature_input_hook: unknown hook name 'hook_resid_middle'/,
    );
    await files.writeFile('d/config.yaml', `${cfg}activation: gelu\n`);
    await expect(loadDictionary('d', files)).rejects.toThrow(/unknown activation 'gelu'/);
    await files.writeFile('d/config.yaml', 'model_kind: transcoder_set\n');
    await expect(loadDictionary('d', files)).rejects.toThrow(/invalid field 'feature_input_hook'/);

    const sae = await written('sae');
    const scfg = JSON.parse(await sae.readText('d/cfg.json'));
    await sae.writeFile(
      'd/cfg.json',
      JSON.stringify({ ...scfg, metadata: { hook_name: 'blocks.2.attn.hook_z' } }),
    );
    await expect(loadDictionary('d', sae)).rejects.toThrow(
      /hook 'blocks.2.attn.hook_z' does not carry a \[T, d_model\] activation/,
    );
    await sae.writeFile('d/cfg.json', JSON.stringify({ ...scfg, architecture: 'gated' }));
    await expect(loadDictionary('d', sae)).rejects.toThrow(/unsupported SAELens architecture 'gated'/);
    await sae.writeFile('d/cfg.json', JSON.stringify({ ...scfg, d_in: 5 }));
    await expect(loadDictionary('d', sae)).rejects.toThrow(
      /key 'W_enc': expected shape \[5, 6\], got \[4, 6\]/,
    );
  });

  it('truncated safetensors and remote transcoder paths', async () => {
    const files = await written('plt', { nL: 1 });
    const bytes = await files.readFile('d/layer_0.safetensors');
    await files.writeFile('d/layer_0.safetensors', bytes.subarray(0, bytes.length - 7));
    await expect(loadDictionary('d', files)).rejects.toThrow(/layer_0.safetensors: safetensors:/);
    await files.writeFile(
      'd/config.yaml',
      'model_kind: transcoder_set\nfeature_input_hook: hook_resid_mid\nfeature_output_hook: hook_mlp_out\ntranscoders:\n  - hf://google/gemma-scope/layer_0/params.npz\n',
    );
    await expect(loadDictionary('d', files)).rejects.toThrow(/Loupe reads local files only/);
  });

  it('accepts the older `threshold` key in PLT layer files', async () => {
    const files = await written('plt', { nL: 1 });
    const f = await SafetensorsFile.open(bytesSource(await files.readFile('d/layer_0.safetensors')));
    const t: Record<string, F32> = {};
    for (const n of f.names())
      t[n === 'activation_function.threshold' ? 'threshold' : n] = await f.readF32(n);
    await files.writeFile('d/layer_0.safetensors', st(t));
    const dict = await loadDictionary('d', files);
    expect(dict.activation.kind).toBe('jumprelu');
    expect(dict.layers[0].threshold!.data).toEqual(t.threshold.data);
  });

  it('refuses to load a tensor too large for one typed array, before reading its bytes', async () => {
    const tc = 2 ** 28;
    const header = new TextEncoder().encode(
      JSON.stringify({
        W_enc: { dtype: 'F32', shape: [tc, 4], data_offsets: [0, 2 ** 32] },
        W_dec: { dtype: 'F32', shape: [tc, 4], data_offsets: [2 ** 32, 2 ** 33] },
        b_enc: { dtype: 'F32', shape: [tc], data_offsets: [2 ** 33, 2 ** 33 + 2 ** 30] },
        b_dec: { dtype: 'F32', shape: [4], data_offsets: [2 ** 33 + 2 ** 30, 2 ** 33 + 2 ** 30 + 16] },
      }),
    );
    const head = new Uint8Array(8 + header.byteLength);
    new DataView(head.buffer).setBigUint64(0, BigInt(header.byteLength), true);
    head.set(header, 8);
    const files = memoryFiles();
    await files.writeFile(
      'big/config.yaml',
      'model_kind: transcoder_set\nfeature_input_hook: hook_resid_mid\nfeature_output_hook: hook_mlp_out\n',
    );
    await files.writeFile('big/layer_0.safetensors', new Uint8Array(0));
    const huge: FileAccess = {
      ...files,
      async open(path) {
        if (!path.endsWith('layer_0.safetensors')) return files.open(path);
        return {
          size: head.byteLength + 2 ** 33 + 2 ** 30 + 16,
          read: async (o, n) => {
            if (o + n > head.byteLength) throw new Error('test: read beyond the header');
            return head.subarray(o, o + n);
          },
        };
      },
    };
    await expect(loadDictionary('big', huge, { lazyDecoder: true })).rejects.toThrow(
      /key 'W_enc': 268435456×4 floats \(4 GiB\) is too large to load whole/,
    );
  });

  it('validateAgainstModel rejects a d_model or layer-count mismatch', async () => {
    const dict = makeDict('plt', { nL: 3, d: 4 });
    expect(() => validateAgainstModel(dict, model({ dModel: 8 }))).toThrow(
      /d_model 4 does not match the model's d_model 8/,
    );
    expect(() => validateAgainstModel(dict, model({ nLayers: 4 }))).toThrow(
      /PLT has 3 layers but the model has 4/,
    );
    const sae = makeDict('sae', { layer: 5 });
    expect(() => validateAgainstModel(sae, model({ nLayers: 3 }))).toThrow(
      /SAE hook layer 5 is outside a model with 3 layers/,
    );
  });

  it('validateAgainstModel wants transcoder layers 0..L−1 in order unless told some layers will do', () => {
    const dict = makeDict('plt', { nL: 3, d: 4 });
    const swapped = { ...dict, layers: [dict.layers[1], dict.layers[0], dict.layers[2]] } as Dictionary;
    expect(() => validateAgainstModel(swapped, model({}))).toThrow(/transcoder layer 0 reads model layer 1/);
    const two = { ...dict, layers: dict.layers.slice(1) } as Dictionary;
    expect(() => validateAgainstModel(two, model({}))).toThrow(/PLT has 2 layers but the model has 3/);
    expect(() => validateAgainstModel(two, model({}), { everyLayer: false })).not.toThrow();
    expect(() => validateAgainstModel(two, model({ nLayers: 2 }), { everyLayer: false })).toThrow(
      /dictionary layer 2 is outside a model with 2 layers/,
    );
    const backwards = { ...dict, hooks: { input: 'hook_mlp_out', output: 'hook_resid_mid' } } as Dictionary;
    expect(() => validateAgainstModel(backwards, model({}))).toThrow(
      /reads hook_mlp_out, after the hook it writes \(hook_resid_mid\)/,
    );
    const scale = { ...dict, hooks: { input: 'ln2.hook_scale', output: 'hook_mlp_out' } } as Dictionary;
    expect(() => validateAgainstModel(scale, model({}))).toThrow(
      /does not carry a \[T, d_model\] activation/,
    );
  });

  it('refuses to write what a format cannot represent', async () => {
    const files = memoryFiles();
    await expect(writeDictionary('x', files, makeDict('sae'), 'circuit-tracer')).rejects.toThrow(
      /write an SAE in SAELens format/,
    );
    await expect(
      writeDictionary('x', files, makeDict('plt', { act: { kind: 'topk', k: 2, rectify: true } })),
    ).rejects.toThrow(/rectifying TopK/);
    const bad = makeDict('plt');
    bad.layers[1].wEnc = f32([6, 5]);
    await expect(writeDictionary('x', files, bad)).rejects.toThrow(
      /dictionary layer 1 W_enc: expected shape \[6, 4\], got \[6, 5\]/,
    );
  });
});
