/**
 * circuit-tracer's on-disk transcoders (its cache format, which is also what it loads from a local path):
 *
 *   PLT  config.yaml (model_kind: transcoder_set) + layer_{i}.safetensors
 *        W_enc [dTc, dModel], W_dec [dTc, dModel], b_enc [dTc], b_dec [dModel],
 *        activation_function.threshold [dTc]?, W_skip [dModel, dModel]? (x @ W_skipᵀ), k (scalar)?
 *   CLT  config.yaml (model_kind: cross_layer_transcoder) + W_enc_{i}.safetensors
 *        (W_enc_{i} [dTc, dModel], b_enc_{i}, b_dec_{i}, threshold_{i}?, W_skip_{i}? applied as x @ W_skip)
 *        + W_dec_{i}.safetensors (W_dec_{i} [dTc, L−i, dModel])
 *
 * The PLT config may instead list per-layer files in `transcoders` (local paths; GemmaScope .npz included).
 */
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import type { FileAccess } from '../../io/files.ts';
import type { SafetensorsFile } from '../../io/safetensors.ts';
import { transpose2d } from '../../tensor/host.ts';
import {
  type ActivationSpec,
  type Dictionary,
  type DictionaryDType,
  type DictionaryLayer,
  parseBlockHook,
} from '../types.ts';
import {
  assembleDictionary,
  checkKeys,
  closeAll,
  contiguousIndices,
  type DictionaryParts,
  dtypeFromSafetensors,
  expectShape,
  openSafetensors,
  parseConfig,
  readChecked,
  readEager,
  requireKey,
  shapeStr,
} from './common.ts';
import { readGemmaScopeParams } from './gemmascope.ts';

const transcoderEntry = z.union([
  z.string(),
  z.object({ layer: z.number().int().nonnegative(), filepath: z.string() }).loose(),
]);

export const circuitTracerConfigSchema = z
  .object({
    model_kind: z.enum(['transcoder_set', 'cross_layer_transcoder']),
    feature_input_hook: z.string(),
    feature_output_hook: z.string(),
    activation: z.string().optional(),
    k: z.number().int().positive().optional(),
    transcoders: z.array(transcoderEntry).optional(),
    model_name: z.string().optional(),
    scan: z.union([z.string(), z.array(z.string())]).optional(),
  })
  .loose();

export type CircuitTracerConfig = z.infer<typeof circuitTracerConfigSchema>;

export interface ReadOptions {
  lazyDecoder?: boolean;
}

export async function readCircuitTracerConfig(files: FileAccess, dir: string): Promise<CircuitTracerConfig> {
  const path = files.join(dir, 'config.yaml');
  let raw: unknown;
  try {
    raw = parseYaml(await files.readText(path));
  } catch (e) {
    throw new Error(`${path}: not valid YAML (${(e as Error).message})`);
  }
  return parseConfig(circuitTracerConfigSchema, raw, path);
}

/**
 * What both layouts say beyond their weights: provenance kept for writing back (circuit-tracer reads
 * model_name in its CLI and scan in feature files); a transcoder never subtracts b_dec from its input.
 */
function configParts(cfg: CircuitTracerConfig): Pick<DictionaryParts, 'applyBDecToInput' | 'meta'> {
  const meta: Record<string, unknown> = {};
  if (cfg.model_name !== undefined) meta.model_name = cfg.model_name;
  if (cfg.scan !== undefined) meta.scan = cfg.scan;
  return { applyBDecToInput: false, meta };
}

export async function readCircuitTracer(
  files: FileAccess,
  dir: string,
  opts: ReadOptions = {},
): Promise<Dictionary> {
  const cfg = await readCircuitTracerConfig(files, dir);
  const where = files.join(dir, 'config.yaml');
  const hooks = {
    input: parseBlockHook(cfg.feature_input_hook, `${where} feature_input_hook`),
    output: parseBlockHook(cfg.feature_output_hook, `${where} feature_output_hook`),
  };
  return cfg.model_kind === 'transcoder_set'
    ? readPlt(files, dir, cfg, hooks, opts)
    : readClt(files, dir, cfg, hooks, opts);
}

function pltActivation(
  cfg: CircuitTracerConfig,
  hasThreshold: boolean,
  fileK: number | undefined,
  where: string,
): ActivationSpec {
  const a = cfg.activation;
  if (a === 'topk') {
    const k = cfg.k ?? fileK;
    if (k === undefined)
      throw new Error(`${where}: activation 'topk' needs k (in config.yaml or a 'k' tensor)`);
    return { kind: 'topk', k, rectify: false };
  }
  if (a === 'relu') return { kind: 'relu' };
  if (a === undefined || a === 'jump_relu' || a === 'jumprelu') {
    if (hasThreshold) return { kind: 'jumprelu', rectify: false };
    if (a !== undefined)
      throw new Error(`${where}: activation '${a}' needs activation_function.threshold in every layer`);
    return { kind: 'relu' };
  }
  throw new Error(`${where}: unknown activation '${a}' (expected topk, relu or jump_relu)`);
}

interface LayerFile {
  path: string;
  npz: boolean;
}

async function pltLayerFiles(files: FileAccess, dir: string, cfg: CircuitTracerConfig): Promise<LayerFile[]> {
  if (cfg.transcoders) {
    const byLayer = new Map<number, string>();
    cfg.transcoders.forEach((t, i) => {
      const layer = typeof t === 'string' ? i : t.layer;
      const path = typeof t === 'string' ? t : t.filepath;
      if (byLayer.has(layer)) throw new Error(`${dir}/config.yaml: two transcoders for layer ${layer}`);
      byLayer.set(layer, path);
    });
    contiguousIndices(
      [...byLayer.keys()].map((l) => `layer_${l}`),
      /^layer_(\d+)$/,
      `${dir}/config.yaml transcoders`,
    );
    return [...byLayer.keys()]
      .sort((a, b) => a - b)
      .map((l) => {
        const p = byLayer.get(l)!;
        if (/^[a-z]+:\/\//i.test(p)) {
          throw new Error(
            `${dir}/config.yaml: layer ${l} refers to '${p}'; Loupe reads local files only (download it first)`,
          );
        }
        return { path: p.startsWith('/') ? p : files.join(dir, p), npz: p.endsWith('.npz') };
      });
  }
  const names = await files.list(dir);
  const n = contiguousIndices(names, /^layer_(\d+)\.safetensors$/, dir);
  if (n === 0) throw new Error(`${dir}: a transcoder_set needs layer_{i}.safetensors files (found none)`);
  return Array.from({ length: n }, (_, i) => ({
    path: files.join(dir, `layer_${i}.safetensors`),
    npz: false,
  }));
}

/** `threshold` is accepted as an older spelling of `activation_function.threshold`; Loupe writes the latter. */
const PLT_KEYS = [
  'W_enc',
  'W_dec',
  'b_enc',
  'b_dec',
  'activation_function.threshold',
  'threshold',
  'W_skip',
  'k',
];

async function readScalarK(file: SafetensorsFile, where: string): Promise<number | undefined> {
  if (!file.has('k')) return undefined;
  const t = await file.read('k');
  if (t.data.length !== 1)
    throw new Error(`${where} key 'k': expected a scalar, got shape ${shapeStr(t.shape)}`);
  const k = Number(t.data[0]);
  if (!Number.isInteger(k) || k <= 0)
    throw new Error(`${where} key 'k': expected a positive integer, got ${k}`);
  return k;
}

/** A reader of one of the two on-disk layouts, given the parsed config and the hooks it names. */
type LayoutReader = (
  files: FileAccess,
  dir: string,
  cfg: CircuitTracerConfig,
  hooks: Dictionary['hooks'],
  opts: ReadOptions,
) => Promise<Dictionary>;

const readPlt: LayoutReader = async (files, dir, cfg, hooks, opts) => {
  const layerFiles = await pltLayerFiles(files, dir, cfg);
  const lazy = opts.lazyDecoder === true && layerFiles.every((f) => !f.npz);
  const layers: DictionaryLayer[] = [];
  const open: SafetensorsFile[] = [];
  let dModel = -1;
  let dTc = -1;
  let dtype: DictionaryDType = 'float32';
  let fileK: number | undefined;
  try {
    for (let i = 0; i < layerFiles.length; i++) {
      const { path, npz } = layerFiles[i];
      let layer: DictionaryLayer;
      if (npz) {
        const p = await readGemmaScopeParams(files, path);
        layer = { layer: i, ...p.layer };
        dtype = p.dtype;
      } else {
        const file = await openSafetensors(files, path);
        open.push(file);
        checkKeys(file, PLT_KEYS, path);
        requireKey(file, 'b_enc', path);
        requireKey(file, 'b_dec', path);
        const tc = file.info('b_enc').shape[0] ?? 0;
        const dm = file.info('b_dec').shape[0] ?? 0;
        expectShape(file.info('b_enc').shape, [tc], `${path} key 'b_enc'`);
        expectShape(file.info('b_dec').shape, [dm], `${path} key 'b_dec'`);
        requireKey(file, 'W_enc', path);
        requireKey(file, 'W_dec', path);
        expectShape(file.info('W_dec').shape, [tc, dm], `${path} key 'W_dec'`);
        dtype = dtypeFromSafetensors(file.info('W_enc').dtype, path);
        layer = {
          layer: i,
          wEnc: await readChecked(file, 'W_enc', [tc, dm], path),
          bEnc: await file.readF32('b_enc'),
          bDec: await file.readF32('b_dec'),
        };
        if (!lazy) layer.wDec = await readEager(file, 'W_dec', path);
        const thresholdKey = ['activation_function.threshold', 'threshold'].filter((k) => file.has(k));
        if (thresholdKey.length > 1)
          throw new Error(`${path}: both 'activation_function.threshold' and 'threshold'`);
        if (thresholdKey.length === 1) layer.threshold = await readChecked(file, thresholdKey[0], [tc], path);
        if (file.has('W_skip')) layer.wSkip = await readChecked(file, 'W_skip', [dm, dm], path);
        fileK = (await readScalarK(file, path)) ?? fileK;
      }
      const tc = layer.bEnc.shape[0];
      const dm = layer.bDec.shape[0];
      if (i === 0) {
        dTc = tc;
        dModel = dm;
      } else if (tc !== dTc) {
        throw new Error(
          `${dir}: inconsistent dTc across layers: layer 0 has ${dTc} features, layer ${i} has ${tc}`,
        );
      } else if (dm !== dModel) {
        throw new Error(
          `${dir}: inconsistent d_model across layers: layer 0 has ${dModel}, layer ${i} has ${dm}`,
        );
      }
      if (i > 0 && !!layer.threshold !== !!layers[0].threshold) {
        throw new Error(
          `${dir}: layer ${i} ${layer.threshold ? 'has' : 'lacks'} a JumpReLU threshold, unlike layer 0`,
        );
      }
      layers.push(layer);
    }
    const activation = pltActivation(cfg, !!layers[0].threshold, fileK, `${dir}/config.yaml`);
    const dict = assembleDictionary(
      { kind: 'plt', dModel, dTc, layers, activation, hooks, dtype, ...configParts(cfg) },
      lazy ? { files: open, keys: layers.map(() => 'W_dec') } : undefined,
    );
    if (!lazy) await closeAll(open);
    return dict;
  } catch (e) {
    await closeAll(open);
    throw e;
  }
};

const readClt: LayoutReader = async (files, dir, cfg, hooks, opts) => {
  if (cfg.activation !== undefined && !['relu', 'jump_relu', 'jumprelu'].includes(cfg.activation)) {
    throw new Error(
      `${dir}/config.yaml: a cross_layer_transcoder supports relu or jump_relu, got '${cfg.activation}'`,
    );
  }
  const names = await files.list(dir);
  const nEnc = contiguousIndices(names, /^W_enc_(\d+)\.safetensors$/, `${dir} W_enc files`);
  const nDec = contiguousIndices(names, /^W_dec_(\d+)\.safetensors$/, `${dir} W_dec files`);
  if (nEnc === 0)
    throw new Error(`${dir}: a cross_layer_transcoder needs W_enc_{i}.safetensors files (found none)`);
  if (nDec !== nEnc) throw new Error(`${dir}: ${nEnc} W_enc_{i} files but ${nDec} W_dec_{i} files`);
  const nL = nEnc;
  const lazy = opts.lazyDecoder === true;
  const layers: DictionaryLayer[] = [];
  const open: SafetensorsFile[] = [];
  const decFiles: SafetensorsFile[] = [];
  let dTc = -1;
  let dModel = -1;
  let dtype: DictionaryDType = 'float32';
  try {
    for (let i = 0; i < nL; i++) {
      const encPath = files.join(dir, `W_enc_${i}.safetensors`);
      const enc = await openSafetensors(files, encPath);
      open.push(enc);
      checkKeys(enc, [`W_enc_${i}`, `b_enc_${i}`, `b_dec_${i}`, `threshold_${i}`, `W_skip_${i}`], encPath);
      requireKey(enc, `W_enc_${i}`, encPath);
      const encShape = enc.info(`W_enc_${i}`).shape;
      if (encShape.length !== 2)
        throw new Error(`${encPath} key 'W_enc_${i}': expected [dTc, dModel], got ${shapeStr(encShape)}`);
      if (i === 0) {
        [dTc, dModel] = encShape;
        dtype = dtypeFromSafetensors(enc.info('W_enc_0').dtype, encPath);
      } else if (encShape[0] !== dTc) {
        throw new Error(
          `${dir}: inconsistent dTc across layers: layer 0 has ${dTc} features, layer ${i} has ${encShape[0]}`,
        );
      } else if (encShape[1] !== dModel) {
        throw new Error(
          `${dir}: inconsistent d_model across layers: layer 0 has ${dModel}, layer ${i} has ${encShape[1]}`,
        );
      }
      const layer: DictionaryLayer = {
        layer: i,
        wEnc: await readChecked(enc, `W_enc_${i}`, [dTc, dModel], encPath),
        bEnc: await readChecked(enc, `b_enc_${i}`, [dTc], encPath),
        bDec: await readChecked(enc, `b_dec_${i}`, [dModel], encPath),
      };
      if (enc.has(`threshold_${i}`))
        layer.threshold = await readChecked(enc, `threshold_${i}`, [dTc], encPath);
      if (enc.has(`W_skip_${i}`)) {
        layer.wSkip = transpose2d(await readChecked(enc, `W_skip_${i}`, [dModel, dModel], encPath));
      }
      if (i > 0 && !!layer.threshold !== !!layers[0].threshold) {
        throw new Error(
          `${dir}: layer ${i} ${layer.threshold ? 'has' : 'lacks'} threshold_${i}, unlike layer 0`,
        );
      }
      const decPath = files.join(dir, `W_dec_${i}.safetensors`);
      const dec = await openSafetensors(files, decPath);
      open.push(dec);
      decFiles.push(dec);
      checkKeys(dec, [`W_dec_${i}`], decPath);
      requireKey(dec, `W_dec_${i}`, decPath);
      expectShape(dec.info(`W_dec_${i}`).shape, [dTc, nL - i, dModel], `${decPath} key 'W_dec_${i}'`);
      if (!lazy) layer.wDec = await readEager(dec, `W_dec_${i}`, decPath);
      layers.push(layer);
    }
    const activation: ActivationSpec = layers[0].threshold
      ? { kind: 'jumprelu', rectify: false }
      : { kind: 'relu' };
    if (cfg.activation === 'relu' && layers[0].threshold) {
      throw new Error(`${dir}/config.yaml: activation 'relu' but the files carry JumpReLU thresholds`);
    }
    const keys = layers.map((_, i) => `W_dec_${i}`);
    const dict = assembleDictionary(
      { kind: 'clt', dModel, dTc, layers, activation, hooks, dtype, ...configParts(cfg) },
      lazy ? { files: decFiles, keys } : undefined,
    );
    await closeAll(lazy ? open.filter((f) => !decFiles.includes(f)) : open);
    return dict;
  } catch (e) {
    await closeAll(open);
    throw e;
  }
};
