/**
 * Hugging Face checkpoint directories <-> canonical ModelWeights. The shipped organism is saved with
 * saveCheckpoint and loaded through loadCheckpoint, the same path as any external checkpoint.
 */
import { z } from 'zod';
import type { ModelConfig } from '../model/config.ts';
import type {
  AttentionWeights,
  LayerWeights,
  MlpWeights,
  ModelWeights,
  NormWeights,
} from '../model/weights.ts';
import type { F32 } from '../tensor/host.ts';
import { parseHfConfig, toHfConfig } from './config.ts';
import type { FileAccess } from './files.ts';
import { type EncodeAs, SafetensorsFile, writeSafetensors } from './safetensors.ts';
import { type Tokenizer, loadTokenizer } from './tokenizer.ts';

export interface Checkpoint {
  config: ModelConfig;
  weights: ModelWeights;
  tokenizer?: Tokenizer;
}

const indexSchema = z.object({ weight_map: z.record(z.string(), z.string()) });

/** [rows, cols] -> [cols, rows]; load-time bookkeeping, not inference math. */
export function transpose2d(t: F32): F32 {
  const [r, c] = t.shape;
  const out = new Float32Array(r * c);
  for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) out[j * r + i] = t.data[i * c + j];
  return { dtype: 'float32', shape: [c, r], data: out };
}

function addScalar(t: F32, s: number): F32 {
  return { dtype: 'float32', shape: t.shape, data: t.data.map((v) => v + s) };
}

/** Columns [from, from+n) of a [rows, cols] matrix, or elements of a vector. */
function columns(t: F32, from: number, n: number): F32 {
  if (t.shape.length === 1) return { dtype: 'float32', shape: [n], data: t.data.slice(from, from + n) };
  const [r, c] = t.shape;
  const out = new Float32Array(r * n);
  for (let i = 0; i < r; i++) out.set(t.data.subarray(i * c + from, i * c + from + n), i * n);
  return { dtype: 'float32', shape: [r, n], data: out };
}

function concatColumns(parts: F32[]): F32 {
  if (parts[0].shape.length === 1) {
    const data = new Float32Array(parts.reduce((s, p) => s + p.data.length, 0));
    let o = 0;
    for (const p of parts) {
      data.set(p.data, o);
      o += p.data.length;
    }
    return { dtype: 'float32', shape: [data.length], data };
  }
  const r = parts[0].shape[0];
  const total = parts.reduce((s, p) => s + p.shape[1], 0);
  const out = new Float32Array(r * total);
  let o = 0;
  for (const p of parts) {
    const c = p.shape[1];
    for (let i = 0; i < r; i++) out.set(p.data.subarray(i * c, (i + 1) * c), i * total + o);
    o += c;
  }
  return { dtype: 'float32', shape: [r, total], data: out };
}

/** Resolves tensor names to the file (single or shard) holding them. */
class TensorStore {
  private readonly open = new Map<string, SafetensorsFile>();
  constructor(
    private readonly dir: string,
    private readonly files: FileAccess,
    private readonly where: Map<string, string>,
  ) {}

  static async create(dir: string, files: FileAccess): Promise<TensorStore> {
    const indexPath = files.join(dir, 'model.safetensors.index.json');
    const singlePath = files.join(dir, 'model.safetensors');
    const where = new Map<string, string>();
    if (await files.exists(indexPath)) {
      let raw: unknown;
      try {
        raw = JSON.parse(await files.readText(indexPath));
      } catch (e) {
        throw new Error(`${indexPath}: not valid JSON (${(e as Error).message})`);
      }
      const idx = indexSchema.safeParse(raw);
      if (!idx.success) throw new Error(`${indexPath}: missing or invalid 'weight_map'`);
      for (const [name, file] of Object.entries(idx.data.weight_map)) {
        if (file.includes('/') || file.includes('\\') || file.startsWith('.')) {
          throw new Error(`${indexPath}: shard name '${file}' must be a plain file name`);
        }
        where.set(name, file);
      }
      return new TensorStore(dir, files, where);
    }
    if (!(await files.exists(singlePath))) {
      throw new Error(`${dir}: neither model.safetensors nor model.safetensors.index.json exists`);
    }
    const store = new TensorStore(dir, files, where);
    const f = await store.file('model.safetensors');
    for (const name of f.names()) where.set(name, 'model.safetensors');
    return store;
  }

  private async file(name: string): Promise<SafetensorsFile> {
    let f = this.open.get(name);
    if (!f) {
      const path = this.files.join(this.dir, name);
      const source = await this.files.open(path);
      try {
        f = await SafetensorsFile.open(source);
      } catch (e) {
        // A file that is not safetensors never reaches `this.open`, so close() would not release it.
        await source.close?.();
        throw new Error(`${path}: ${(e as Error).message}`);
      }
      this.open.set(name, f);
    }
    return f;
  }

  has(name: string): boolean {
    return this.where.has(name);
  }

  async get(name: string, shape: readonly number[]): Promise<F32> {
    const file = this.where.get(name);
    if (!file) throw new Error(`${this.files.join(this.dir, 'model.safetensors')}: missing tensor '${name}'`);
    const f = await this.file(file);
    if (!f.has(name))
      throw new Error(`${this.files.join(this.dir, file)}: missing tensor '${name}' (listed in the index)`);
    const info = f.info(name);
    if (info.shape.length !== shape.length || info.shape.some((d, i) => d !== shape[i])) {
      throw new Error(
        `${this.files.join(this.dir, file)}: tensor '${name}' has shape [${info.shape.join(', ')}], expected [${shape.join(', ')}]`,
      );
    }
    return f.readF32(name);
  }

  async close(): Promise<void> {
    for (const f of this.open.values()) await f.close();
  }
}

async function loadGpt2(c: ModelConfig, s: TensorStore): Promise<ModelWeights> {
  const prefix = s.has('transformer.wte.weight') ? 'transformer.' : '';
  const d = c.dModel;
  const norm = async (n: string): Promise<NormWeights> => ({
    w: await s.get(`${n}.weight`, [d]),
    b: await s.get(`${n}.bias`, [d]),
  });
  const layers: LayerWeights[] = [];
  for (let l = 0; l < c.nLayers; l++) {
    const p = `${prefix}h.${l}.`;
    const qkvW = await s.get(`${p}attn.c_attn.weight`, [d, 3 * d]);
    const qkvB = await s.get(`${p}attn.c_attn.bias`, [3 * d]);
    layers.push({
      ln1: await norm(`${p}ln_1`),
      attn: {
        wQ: columns(qkvW, 0, d),
        wK: columns(qkvW, d, d),
        wV: columns(qkvW, 2 * d, d),
        bQ: columns(qkvB, 0, d),
        bK: columns(qkvB, d, d),
        bV: columns(qkvB, 2 * d, d),
        wO: await s.get(`${p}attn.c_proj.weight`, [d, d]),
        bO: await s.get(`${p}attn.c_proj.bias`, [d]),
      },
      ln2: await norm(`${p}ln_2`),
      mlp: {
        wIn: await s.get(`${p}mlp.c_fc.weight`, [d, c.dMlp]),
        bIn: await s.get(`${p}mlp.c_fc.bias`, [c.dMlp]),
        wOut: await s.get(`${p}mlp.c_proj.weight`, [c.dMlp, d]),
        bOut: await s.get(`${p}mlp.c_proj.bias`, [d]),
      },
    });
  }
  const embed = await s.get(`${prefix}wte.weight`, [c.dVocab, d]);
  return {
    embed,
    posEmbed: await s.get(`${prefix}wpe.weight`, [c.nCtx, d]),
    layers,
    lnFinal: await norm(`${prefix}ln_f`),
    // GPT2LMHeadModel always ties lm_head to wte; a stored lm_head.weight is a copy HF ignores.
    unembed: transpose2d(embed),
  };
}

async function loadLlamaLike(c: ModelConfig, s: TensorStore): Promise<ModelWeights> {
  const d = c.dModel;
  const qDim = c.nHeads * c.dHead;
  const kvDim = c.nKvHeads * c.dHead;
  const gemma = c.architecture === 'gemma2';
  // Gemma's RMSNorm multiplies by (1 + w); fold it so that `w` is the effective scale.
  const norm = async (n: string, dim = d): Promise<NormWeights> => {
    const w = await s.get(`${n}.weight`, [dim]);
    return { w: gemma ? addScalar(w, 1) : w };
  };
  const linear = async (n: string, inDim: number, outDim: number) =>
    transpose2d(await s.get(`${n}.weight`, [outDim, inDim]));
  const layers: LayerWeights[] = [];
  for (let l = 0; l < c.nLayers; l++) {
    const p = `model.layers.${l}.`;
    const attn: AttentionWeights = {
      wQ: await linear(`${p}self_attn.q_proj`, d, qDim),
      wK: await linear(`${p}self_attn.k_proj`, d, kvDim),
      wV: await linear(`${p}self_attn.v_proj`, d, kvDim),
      wO: await linear(`${p}self_attn.o_proj`, qDim, d),
    };
    if (c.attnBias) {
      attn.bQ = await s.get(`${p}self_attn.q_proj.bias`, [qDim]);
      attn.bK = await s.get(`${p}self_attn.k_proj.bias`, [kvDim]);
      attn.bV = await s.get(`${p}self_attn.v_proj.bias`, [kvDim]);
      // Qwen2 has no o_proj bias; Llama's attention_bias covers o_proj too.
      if (c.architecture !== 'qwen2') attn.bO = await s.get(`${p}self_attn.o_proj.bias`, [d]);
    }
    if (c.qkNorm) {
      attn.qNorm = await norm(`${p}self_attn.q_norm`, c.dHead);
      attn.kNorm = await norm(`${p}self_attn.k_norm`, c.dHead);
    }
    const mlp: MlpWeights = {
      wGate: await linear(`${p}mlp.gate_proj`, d, c.dMlp),
      wIn: await linear(`${p}mlp.up_proj`, d, c.dMlp),
      wOut: await linear(`${p}mlp.down_proj`, c.dMlp, d),
    };
    const layer: LayerWeights = gemma
      ? {
          ln1: await norm(`${p}input_layernorm`),
          attn,
          ln1Post: await norm(`${p}post_attention_layernorm`),
          ln2: await norm(`${p}pre_feedforward_layernorm`),
          mlp,
          ln2Post: await norm(`${p}post_feedforward_layernorm`),
        }
      : {
          ln1: await norm(`${p}input_layernorm`),
          attn,
          ln2: await norm(`${p}post_attention_layernorm`),
          mlp,
        };
    layers.push(layer);
  }
  const embed = await s.get('model.embed_tokens.weight', [c.dVocab, d]);
  // A tied checkpoint may still carry lm_head.weight; HF ignores it in favour of the embedding, and so do we.
  const unembed = c.tiedEmbeddings ? transpose2d(embed) : await linear('lm_head', d, c.dVocab);
  return { embed, layers, lnFinal: await norm('model.norm'), unembed };
}

async function readJson(files: FileAccess, path: string): Promise<unknown> {
  let text: string;
  try {
    text = await files.readText(path);
  } catch (e) {
    throw new Error(`${path}: cannot read (${(e as Error).message})`);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new Error(`${path}: not valid JSON (${(e as Error).message})`);
  }
}

export async function loadCheckpoint(dir: string, files: FileAccess): Promise<Checkpoint> {
  const configPath = files.join(dir, 'config.json');
  if (!(await files.exists(configPath))) throw new Error(`${dir}: no config.json`);
  let config: ModelConfig;
  try {
    config = parseHfConfig(await readJson(files, configPath));
  } catch (e) {
    throw new Error(`${configPath}: ${(e as Error).message}`);
  }
  const store = await TensorStore.create(dir, files);
  try {
    const weights =
      config.architecture === 'gpt2' ? await loadGpt2(config, store) : await loadLlamaLike(config, store);
    const out: Checkpoint = { config, weights };
    const tokPath = files.join(dir, 'tokenizer.json');
    if (await files.exists(tokPath)) {
      const tcPath = files.join(dir, 'tokenizer_config.json');
      const tokenizerConfig = (await files.exists(tcPath)) ? await readJson(files, tcPath) : {};
      try {
        out.tokenizer = loadTokenizer(await readJson(files, tokPath), tokenizerConfig, config);
      } catch (e) {
        throw new Error(`${tokPath}: ${(e as Error).message}`);
      }
    }
    return out;
  } finally {
    await store.close();
  }
}

export interface SaveOptions {
  dtype?: 'F32' | 'F16' | 'BF16';
  /** Split into this many shards with model.safetensors.index.json (default 1: a single model.safetensors). */
  shards?: number;
  tokenizerJson?: unknown;
  tokenizerConfig?: unknown;
}

/** The HF-named tensors of `weights` (Linear layers transposed back to [out, in], Gemma norms unfolded). */
export function toHfTensors(config: ModelConfig, weights: ModelWeights): Record<string, F32> {
  const t: Record<string, F32> = {};
  const checkTied = () => {
    if (!config.tiedEmbeddings) return;
    const e = transpose2d(weights.embed);
    if (e.data.some((v, i) => v !== weights.unembed.data[i])) {
      throw new Error('saveCheckpoint: tiedEmbeddings is set but unembed is not the transpose of embed');
    }
  };
  if (config.architecture === 'gpt2') {
    checkTied();
    const p = 'transformer.';
    t[`${p}wte.weight`] = weights.embed;
    if (!weights.posEmbed) throw new Error('saveCheckpoint: GPT-2 needs posEmbed');
    t[`${p}wpe.weight`] = weights.posEmbed;
    const need = (x: F32 | undefined, what: string): F32 => {
      if (!x) throw new Error(`saveCheckpoint: GPT-2 needs ${what}`);
      return x;
    };
    weights.layers.forEach((L, l) => {
      const h = `${p}h.${l}.`;
      t[`${h}ln_1.weight`] = L.ln1.w;
      t[`${h}ln_1.bias`] = need(L.ln1.b, `layers[${l}].ln1.b`);
      t[`${h}attn.c_attn.weight`] = concatColumns([L.attn.wQ, L.attn.wK, L.attn.wV]);
      t[`${h}attn.c_attn.bias`] = concatColumns([
        need(L.attn.bQ, `layers[${l}].attn.bQ`),
        need(L.attn.bK, `layers[${l}].attn.bK`),
        need(L.attn.bV, `layers[${l}].attn.bV`),
      ]);
      t[`${h}attn.c_proj.weight`] = L.attn.wO;
      t[`${h}attn.c_proj.bias`] = need(L.attn.bO, `layers[${l}].attn.bO`);
      t[`${h}ln_2.weight`] = L.ln2.w;
      t[`${h}ln_2.bias`] = need(L.ln2.b, `layers[${l}].ln2.b`);
      t[`${h}mlp.c_fc.weight`] = L.mlp.wIn;
      t[`${h}mlp.c_fc.bias`] = need(L.mlp.bIn, `layers[${l}].mlp.bIn`);
      t[`${h}mlp.c_proj.weight`] = L.mlp.wOut;
      t[`${h}mlp.c_proj.bias`] = need(L.mlp.bOut, `layers[${l}].mlp.bOut`);
    });
    t[`${p}ln_f.weight`] = weights.lnFinal.w;
    t[`${p}ln_f.bias`] = need(weights.lnFinal.b, 'lnFinal.b');
    return t;
  }
  const gemma = config.architecture === 'gemma2';
  const norm = (n: NormWeights) => (gemma ? addScalar(n.w, -1) : n.w);
  const need = <T>(x: T | undefined, what: string): T => {
    if (x === undefined) throw new Error(`saveCheckpoint: ${config.hfArchitecture} needs ${what}`);
    return x;
  };
  checkTied();
  t['model.embed_tokens.weight'] = weights.embed;
  weights.layers.forEach((L, l) => {
    const p = `model.layers.${l}.`;
    t[`${p}self_attn.q_proj.weight`] = transpose2d(L.attn.wQ);
    t[`${p}self_attn.k_proj.weight`] = transpose2d(L.attn.wK);
    t[`${p}self_attn.v_proj.weight`] = transpose2d(L.attn.wV);
    t[`${p}self_attn.o_proj.weight`] = transpose2d(L.attn.wO);
    if (config.attnBias) {
      t[`${p}self_attn.q_proj.bias`] = need(L.attn.bQ, `layers[${l}].attn.bQ`);
      t[`${p}self_attn.k_proj.bias`] = need(L.attn.bK, `layers[${l}].attn.bK`);
      t[`${p}self_attn.v_proj.bias`] = need(L.attn.bV, `layers[${l}].attn.bV`);
      if (config.architecture !== 'qwen2')
        t[`${p}self_attn.o_proj.bias`] = need(L.attn.bO, `layers[${l}].attn.bO`);
    }
    if (config.qkNorm) {
      t[`${p}self_attn.q_norm.weight`] = need(L.attn.qNorm, `layers[${l}].attn.qNorm`).w;
      t[`${p}self_attn.k_norm.weight`] = need(L.attn.kNorm, `layers[${l}].attn.kNorm`).w;
    }
    t[`${p}mlp.gate_proj.weight`] = transpose2d(need(L.mlp.wGate, `layers[${l}].mlp.wGate`));
    t[`${p}mlp.up_proj.weight`] = transpose2d(L.mlp.wIn);
    t[`${p}mlp.down_proj.weight`] = transpose2d(L.mlp.wOut);
    t[`${p}input_layernorm.weight`] = norm(L.ln1);
    if (gemma) {
      t[`${p}post_attention_layernorm.weight`] = norm(need(L.ln1Post, `layers[${l}].ln1Post`));
      t[`${p}pre_feedforward_layernorm.weight`] = norm(L.ln2);
      t[`${p}post_feedforward_layernorm.weight`] = norm(need(L.ln2Post, `layers[${l}].ln2Post`));
    } else {
      t[`${p}post_attention_layernorm.weight`] = norm(L.ln2);
    }
  });
  t['model.norm.weight'] = norm(weights.lnFinal);
  if (!config.tiedEmbeddings) t['lm_head.weight'] = transpose2d(weights.unembed);
  return t;
}

export async function saveCheckpoint(
  dir: string,
  config: ModelConfig,
  weights: ModelWeights,
  files: FileAccess,
  options: SaveOptions = {},
): Promise<void> {
  const dtype = options.dtype ?? 'F32';
  const shards = options.shards ?? 1;
  if (!Number.isInteger(shards) || shards < 1)
    throw new Error(`saveCheckpoint: shards must be a positive integer, got ${shards}`);
  if (weights.layers.length !== config.nLayers) {
    throw new Error(
      `saveCheckpoint: weights have ${weights.layers.length} layers but config.nLayers is ${config.nLayers}`,
    );
  }
  const hfConfig = toHfConfig(config);
  const tensors = toHfTensors(config, weights);
  const encoded: Record<string, EncodeAs> = {};
  for (const [name, t] of Object.entries(tensors)) encoded[name] = { dtype, shape: t.shape, data: t.data };
  await files.mkdir(dir);
  await files.writeFile(
    files.join(dir, 'config.json'),
    `${JSON.stringify({ ...hfConfig, torch_dtype: torchDtype(dtype) }, null, 2)}\n`,
  );
  const names = Object.keys(encoded).sort();
  if (shards === 1) {
    await files.writeFile(files.join(dir, 'model.safetensors'), writeSafetensors(encoded, { format: 'pt' }));
  } else {
    const weightMap: Record<string, string> = {};
    let totalSize = 0;
    const per = Math.ceil(names.length / shards);
    for (let s = 0; s < shards; s++) {
      const file = `model-${String(s + 1).padStart(5, '0')}-of-${String(shards).padStart(5, '0')}.safetensors`;
      const part: Record<string, EncodeAs> = {};
      for (const n of names.slice(s * per, (s + 1) * per)) {
        part[n] = encoded[n];
        weightMap[n] = file;
      }
      const bytes = writeSafetensors(part, { format: 'pt' });
      totalSize += bytes.byteLength;
      await files.writeFile(files.join(dir, file), bytes);
    }
    const index = { metadata: { total_size: totalSize }, weight_map: weightMap };
    await files.writeFile(
      files.join(dir, 'model.safetensors.index.json'),
      `${JSON.stringify(index, null, 2)}\n`,
    );
  }
  if (options.tokenizerJson !== undefined) {
    await files.writeFile(files.join(dir, 'tokenizer.json'), JSON.stringify(options.tokenizerJson));
  }
  if (options.tokenizerConfig !== undefined) {
    await files.writeFile(
      files.join(dir, 'tokenizer_config.json'),
      `${JSON.stringify(options.tokenizerConfig, null, 2)}\n`,
    );
  }
}

function torchDtype(d: 'F32' | 'F16' | 'BF16'): string {
  return d === 'F32' ? 'float32' : d === 'F16' ? 'float16' : 'bfloat16';
}
