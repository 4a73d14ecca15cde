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
import { type F32, transpose2d } from '../tensor/host.ts';
import { parseHfConfig } from './config.ts';
import { type FileAccess, readJsonFile } from './files.ts';
import { SafetensorsFile } from './safetensors.ts';
import { type Tokenizer, loadTokenizer } from './tokenizer.ts';

export interface Checkpoint {
  config: ModelConfig;
  weights: ModelWeights;
  tokenizer?: Tokenizer;
}

const indexSchema = z.object({ weight_map: z.record(z.string(), z.string()) });

export function addScalar(t: F32, s: number): F32 {
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

export function concatColumns(parts: F32[]): F32 {
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
      const idx = indexSchema.safeParse(await readJsonFile(files, indexPath));
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

export async function loadCheckpoint(dir: string, files: FileAccess): Promise<Checkpoint> {
  const configPath = files.join(dir, 'config.json');
  if (!(await files.exists(configPath))) throw new Error(`${dir}: no config.json`);
  let config: ModelConfig;
  try {
    config = parseHfConfig(await readJsonFile(files, configPath));
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
      const tokenizerConfig = (await files.exists(tcPath)) ? await readJsonFile(files, tcPath) : {};
      try {
        out.tokenizer = loadTokenizer(await readJsonFile(files, tokPath), tokenizerConfig, config);
      } catch (e) {
        throw new Error(`${tokPath}: ${(e as Error).message}`);
      }
    }
    return out;
  } finally {
    await store.close();
  }
}
