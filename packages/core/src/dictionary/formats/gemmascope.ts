/**
 * GemmaScope `params.npz` (read only): W_enc [dModel, dSae] (transposed here), W_dec [dSae, dModel], b_enc,
 * b_dec, threshold; GemmaScope-2 spells the weights w_enc / w_dec and may add affine_skip_connection
 * [dModel, dModel] applied as x @ A. An all-ones scaling_factor is dropped, as SAELens does.
 */
import type { FileAccess } from '../../io/files.ts';
import { halfArrayToFloat32 } from '../../io/half.ts';
import { readNpz } from '../../io/npz.ts';
import { type F32, type HostTensor, transpose2d } from '../../tensor/host.ts';
import { type Dictionary, type DictionaryDType, type DictionaryLayer, parseLayerHook } from '../types.ts';
import { assembleDictionary, expectShape, shapeStr } from './common.ts';

const KNOWN = [
  'W_enc',
  'W_dec',
  'w_enc',
  'w_dec',
  'b_enc',
  'b_dec',
  'threshold',
  'affine_skip_connection',
  'scaling_factor',
];

function asF32(t: HostTensor, key: string, where: string): F32 {
  if (t.dtype === 'float32') return t as F32;
  if (t.dtype === 'float16')
    return { dtype: 'float32', shape: t.shape, data: halfArrayToFloat32(t.data as Uint16Array) };
  throw new Error(`${where}: array '${key}' must be floating point, got ${t.dtype}`);
}

/** Converts the arrays of one params.npz into a dictionary layer (layer index filled in by the caller). */
export function gemmaScopeLayer(
  arrays: ReadonlyMap<string, HostTensor>,
  where: string,
): Omit<DictionaryLayer, 'layer'> {
  const extra = [...arrays.keys()].filter((k) => !KNOWN.includes(k));
  if (extra.length > 0)
    throw new Error(`${where}: unexpected array(s) ${extra.join(', ')} (allowed: ${KNOWN.join(', ')})`);
  const get = (upper: string, lower: string): F32 => {
    const t = arrays.get(upper) ?? arrays.get(lower);
    if (!t) throw new Error(`${where}: missing array '${upper}' (or '${lower}')`);
    return asF32(t, upper, where);
  };
  const wEncIn = get('W_enc', 'w_enc');
  if (wEncIn.shape.length !== 2)
    throw new Error(`${where}: W_enc must be [d_model, d_sae], got ${shapeStr(wEncIn.shape)}`);
  const [dModel, dSae] = wEncIn.shape;
  const wDec = get('W_dec', 'w_dec');
  expectShape(wDec.shape, [dSae, dModel], `${where} W_dec`);
  const bEnc = get('b_enc', 'b_enc');
  expectShape(bEnc.shape, [dSae], `${where} b_enc`);
  const bDec = get('b_dec', 'b_dec');
  expectShape(bDec.shape, [dModel], `${where} b_dec`);
  const threshold = get('threshold', 'threshold');
  expectShape(threshold.shape, [dSae], `${where} threshold`);
  const scaling = arrays.get('scaling_factor');
  if (scaling && !asF32(scaling, 'scaling_factor', where).data.every((v) => v === 1)) {
    throw new Error(`${where}: a scaling_factor other than 1 is not supported`);
  }
  const layer: Omit<DictionaryLayer, 'layer'> = { wEnc: transpose2d(wEncIn), bEnc, wDec, bDec, threshold };
  const skip = arrays.get('affine_skip_connection');
  if (skip) {
    const s = asF32(skip, 'affine_skip_connection', where);
    expectShape(s.shape, [dModel, dModel], `${where} affine_skip_connection`);
    layer.wSkip = transpose2d(s);
  }
  return layer;
}

export async function readGemmaScopeParams(
  files: FileAccess,
  path: string,
): Promise<{ layer: Omit<DictionaryLayer, 'layer'>; dtype: DictionaryDType }> {
  if (!(await files.exists(path))) throw new Error(`dictionary: missing file ${path}`);
  let arrays: Map<string, HostTensor>;
  try {
    arrays = readNpz(await files.readFile(path));
  } catch (e) {
    throw new Error(`${path}: ${(e as Error).message}`);
  }
  return { layer: gemmaScopeLayer(arrays, path), dtype: 'float32' };
}

/** Infers the SAE's hook from a GemmaScope path: `...-res/layer_12/...` → blocks.12.hook_resid_post. */
export function gemmaScopeHookFromPath(path: string): string | undefined {
  const layer = /layer_(\d+)/.exec(path)?.[1];
  if (layer === undefined) return undefined;
  if (/-res\b|[-_]res[-_/]/.test(path)) return `blocks.${layer}.hook_resid_post`;
  if (/-mlp\b|[-_]mlp[-_/]/.test(path)) return `blocks.${layer}.hook_mlp_out`;
  return undefined;
}

export interface GemmaScopeOptions {
  /** Full hook name; inferred from the path (`-res` / `-mlp` and `layer_{L}`) when absent. */
  hook?: string;
}

/** A directory holding one GemmaScope SAE (params.npz) as a residual-stream or MLP-output SAE. */
export async function readGemmaScopeSae(
  files: FileAccess,
  dir: string,
  opts: GemmaScopeOptions = {},
): Promise<Dictionary> {
  const path = files.join(dir, 'params.npz');
  const hookName = opts.hook ?? gemmaScopeHookFromPath(dir);
  if (!hookName) {
    throw new Error(
      `${dir}: cannot infer the GemmaScope SAE's hook from its path; pass { hook: 'blocks.L.hook_resid_post' }`,
    );
  }
  const { layer: hookLayer, hook } = parseLayerHook(hookName, `${dir} hook`);
  const { layer, dtype } = await readGemmaScopeParams(files, path);
  if (layer.wSkip)
    throw new Error(`${path}: an SAE cannot have affine_skip_connection (is this a transcoder?)`);
  return assembleDictionary({
    kind: 'sae',
    dModel: layer.bDec.shape[0],
    dTc: layer.bEnc.shape[0],
    layers: [{ layer: hookLayer, ...layer }],
    activation: { kind: 'jumprelu', rectify: true },
    hooks: { input: hook, output: hook },
    dtype,
    applyBDecToInput: false,
    meta: { hook_name: hookName },
  });
}
