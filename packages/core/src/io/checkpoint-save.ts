/** ModelWeights -> a Hugging Face checkpoint directory (the inverse of loadCheckpoint in checkpoint.ts). */
import type { ModelConfig } from '../model/config.ts';
import type { ModelWeights, NormWeights } from '../model/weights.ts';
import { type F32, transpose2d } from '../tensor/host.ts';
import { addScalar, concatColumns } from './checkpoint.ts';
import { toHfConfig } from './config.ts';
import type { FileAccess } from './files.ts';
import { type EncodeAs, writeSafetensors } from './safetensors.ts';
import { positiveInt } from '../tensor/checks.ts';

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
  positiveInt(shards, 'saveCheckpoint: shards');
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
