/**
 * SAELens saved SAE: cfg.json + sae_weights.safetensors with W_enc [d_in, d_sae] (transposed here),
 * W_dec [d_sae, d_in], b_enc [d_sae], b_dec [d_in], threshold [d_sae] (jumprelu).
 * Reads SAELens ≥ 6 configs (`metadata.hook_name`), the `meta` spelling and pre-6 top-level `hook_name` /
 * `hook_point`, and legacy `activation_fn_str` / `activation_fn_kwargs`.
 */
import { z } from 'zod';
import { type FileAccess, readJsonFile } from '../../io/files.ts';
import { type SafetensorsFile, writeSafetensors } from '../../io/safetensors.ts';
import {
  type ActivationSpec,
  type Dictionary,
  type DictionaryDType,
  type DictionaryLayer,
  parseLayerHook,
} from '../types.ts';
import type { ReadOptions } from './circuit-tracer.ts';
import type { WriteOptions } from './circuit-tracer-write.ts';
import {
  assembleDictionary,
  checkKeys,
  dtypeFromSafetensors,
  encodeAs,
  expectShape,
  fullDecoderRows,
  openSafetensors,
  parseConfig,
  readChecked,
  readEager,
  requireKey,
  validateLayerShapes,
} from './common.ts';
import { transpose2d } from '../../tensor/host.ts';

const metaSchema = z.record(z.string(), z.unknown());

export const saeLensConfigSchema = z
  .object({
    d_in: z.number().int().positive(),
    d_sae: z.number().int().positive(),
    architecture: z.string().optional(),
    dtype: z.string().optional(),
    apply_b_dec_to_input: z.boolean().optional(),
    normalize_activations: z.string().optional(),
    reshape_activations: z.string().optional(),
    k: z.number().int().positive().optional(),
    activation_fn: z.string().optional(),
    activation_fn_str: z.string().optional(),
    activation_fn_kwargs: z.record(z.string(), z.unknown()).optional(),
    hook_name: z.string().optional(),
    hook_point: z.string().optional(),
    metadata: metaSchema.optional(),
    meta: metaSchema.optional(),
  })
  .loose();

export type SaeLensConfig = z.infer<typeof saeLensConfigSchema>;

export async function readSaeLensConfig(files: FileAccess, dir: string): Promise<SaeLensConfig> {
  const path = files.join(dir, 'cfg.json');
  return parseConfig(saeLensConfigSchema, await readJsonFile(files, path), path);
}

function activationOf(cfg: SaeLensConfig, where: string): ActivationSpec {
  const arch = cfg.architecture ?? 'standard';
  const fn = cfg.activation_fn ?? cfg.activation_fn_str ?? 'relu';
  const kwK = cfg.activation_fn_kwargs?.k;
  if (arch === 'jumprelu') return { kind: 'jumprelu', rectify: true };
  if (arch === 'topk' || (arch === 'standard' && fn === 'topk')) {
    const k = cfg.k ?? (typeof kwK === 'number' ? kwK : undefined);
    if (k === undefined || !Number.isInteger(k) || k <= 0)
      throw new Error(`${where}: a topk SAE needs a positive integer k`);
    return { kind: 'topk', k, rectify: true };
  }
  if (arch === 'standard') {
    if (fn !== 'relu') throw new Error(`${where}: unknown activation '${fn}' (expected relu or topk)`);
    return { kind: 'relu' };
  }
  throw new Error(
    `${where}: unsupported SAELens architecture '${arch}' (supported: standard, jumprelu, topk)`,
  );
}

export async function readSaeLens(
  files: FileAccess,
  dir: string,
  opts: ReadOptions = {},
): Promise<Dictionary> {
  const cfg = await readSaeLensConfig(files, dir);
  const cfgPath = files.join(dir, 'cfg.json');
  const meta = cfg.metadata ?? cfg.meta ?? {};
  const hookName = meta.hook_name ?? cfg.hook_name ?? cfg.hook_point;
  if (hookName === undefined) throw new Error(`${cfgPath}: no hook_name (metadata.hook_name)`);
  const { layer: hookLayer, hook } = parseLayerHook(hookName, `${cfgPath} hook_name`);
  const norm = cfg.normalize_activations ?? 'none';
  if (norm !== 'none') {
    throw new Error(
      `${cfgPath}: normalize_activations '${norm}' is not supported (fold the scaling into the weights first)`,
    );
  }
  if ((cfg.reshape_activations ?? 'none') !== 'none') {
    throw new Error(`${cfgPath}: reshape_activations '${cfg.reshape_activations}' is not supported`);
  }
  const activation = activationOf(cfg, cfgPath);
  const dIn = cfg.d_in;
  const dSae = cfg.d_sae;
  const path = files.join(dir, 'sae_weights.safetensors');
  const file: SafetensorsFile = await openSafetensors(files, path);
  const lazy = opts.lazyDecoder === true;
  try {
    const keys = ['W_enc', 'W_dec', 'b_enc', 'b_dec'];
    if (activation.kind === 'jumprelu') keys.push('threshold');
    checkKeys(file, keys, path);
    for (const k of keys) requireKey(file, k, path);
    const dtype: DictionaryDType = dtypeFromSafetensors(file.info('W_enc').dtype, path);
    const layer: DictionaryLayer = {
      layer: hookLayer,
      wEnc: transpose2d(await readChecked(file, 'W_enc', [dIn, dSae], path)),
      bEnc: await readChecked(file, 'b_enc', [dSae], path),
      bDec: await readChecked(file, 'b_dec', [dIn], path),
    };
    expectShape(file.info('W_dec').shape, [dSae, dIn], `${path} key 'W_dec'`);
    if (!lazy) layer.wDec = await readEager(file, 'W_dec', path);
    if (activation.kind === 'jumprelu') layer.threshold = await readChecked(file, 'threshold', [dSae], path);
    const dict = assembleDictionary(
      {
        kind: 'sae',
        dModel: dIn,
        dTc: dSae,
        layers: [layer],
        activation,
        hooks: { input: hook, output: hook },
        dtype,
        applyBDecToInput: cfg.apply_b_dec_to_input ?? true,
        meta: { ...meta, hook_name: hookName },
      },
      lazy ? { files: [file], keys: ['W_dec'] } : undefined,
    );
    if (!lazy) await file.close();
    return dict;
  } catch (e) {
    await file.close();
    throw e;
  }
}

export async function writeSaeLens(
  files: FileAccess,
  dir: string,
  dict: Dictionary,
  opts: WriteOptions = {},
): Promise<void> {
  if (dict.kind !== 'sae')
    throw new Error(`SAELens format: expected an SAE, got a ${dict.kind.toUpperCase()}`);
  validateLayerShapes(dict);
  const layer = dict.layers[0];
  if (layer.wSkip) throw new Error('SAELens format: an SAE has no skip connection');
  const a = dict.activation;
  if (a.kind === 'topk' && !a.rectify)
    throw new Error('SAELens format: its TopK rectifies; a raw TopK cannot be written as is');
  if (a.kind === 'jumprelu' && !a.rectify && layer.threshold!.data.some((v) => v < 0)) {
    throw new Error(
      'SAELens format: its JumpReLU rectifies; negative thresholds would change the activations',
    );
  }
  const dtype = opts.dtype ?? dict.dtype;
  const hookName = `blocks.${layer.layer}.${dict.hooks.input}`;
  const architecture = a.kind === 'relu' ? 'standard' : a.kind;
  const cfg: Record<string, unknown> = {
    architecture,
    d_in: dict.dModel,
    d_sae: dict.dTc,
    dtype,
    device: 'cpu',
    apply_b_dec_to_input: dict.applyBDecToInput,
    normalize_activations: 'none',
    reshape_activations: 'none',
    metadata: { ...dict.meta, hook_name: hookName },
  };
  if (a.kind === 'topk') cfg.k = a.k;
  const tensors: Record<string, ReturnType<typeof encodeAs>> = {
    W_enc: encodeAs(transpose2d(layer.wEnc), dtype),
    W_dec: encodeAs(await fullDecoderRows(dict, 0), dtype),
    b_enc: encodeAs(layer.bEnc, dtype),
    b_dec: encodeAs(layer.bDec, dtype),
  };
  if (layer.threshold) tensors.threshold = encodeAs(layer.threshold, dtype);
  await files.mkdir(dir);
  await files.writeFile(files.join(dir, 'sae_weights.safetensors'), writeSafetensors(tensors));
  await files.writeFile(files.join(dir, 'cfg.json'), `${JSON.stringify(cfg, null, 2)}\n`);
}
