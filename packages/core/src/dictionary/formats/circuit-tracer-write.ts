/** Writing PLTs and CLTs in circuit-tracer's on-disk layout (described in circuit-tracer.ts, which reads it). */
import { stringify as stringifyYaml } from 'yaml';
import type { FileAccess } from '../../io/files.ts';
import { type EncodeAs, writeSafetensors } from '../../io/safetensors.ts';
import { type F32, type HostTensor, transpose2d } from '../../tensor/host.ts';
import type { Dictionary, DictionaryDType } from '../types.ts';
import { encodeAs, fullDecoderRows, validateLayerShapes } from './common.ts';

export interface WriteOptions {
  /** Storage dtype; defaults to the dictionary's. */
  dtype?: DictionaryDType;
}

function assertCircuitTracerActivation(dict: Dictionary): void {
  const a = dict.activation;
  if (a.kind === 'topk' && a.rectify) {
    throw new Error(
      'circuit-tracer format: its TopK keeps negative values; a rectifying TopK cannot be written as is',
    );
  }
  if (a.kind === 'topk' && dict.kind !== 'plt')
    throw new Error('circuit-tracer format: TopK is supported for PLTs only');
  if (a.kind === 'jumprelu' && a.rectify && dict.layers.some((l) => l.threshold!.data.some((v) => v < 0))) {
    throw new Error(
      'circuit-tracer format: a rectifying JumpReLU with negative thresholds has no circuit-tracer equivalent',
    );
  }
}

/** Writes a PLT or CLT in circuit-tracer's layout; config.yaml last, as circuit-tracer's cache does. */
export async function writeCircuitTracer(
  files: FileAccess,
  dir: string,
  dict: Dictionary,
  opts: WriteOptions = {},
): Promise<void> {
  if (dict.kind === 'sae')
    throw new Error('circuit-tracer format holds transcoders; write an SAE in SAELens format');
  validateLayerShapes(dict);
  assertCircuitTracerActivation(dict);
  const dtype = opts.dtype ?? dict.dtype;
  await files.mkdir(dir);
  const cfg: Record<string, unknown> = {
    model_kind: dict.kind === 'plt' ? 'transcoder_set' : 'cross_layer_transcoder',
    feature_input_hook: dict.hooks.input,
    feature_output_hook: dict.hooks.output,
  };
  for (let i = 0; i < dict.layers.length; i++) {
    const l = dict.layers[i];
    const wDec = await fullDecoderRows(dict, i);
    if (dict.kind === 'plt') {
      const t: Record<string, HostTensor | EncodeAs> = {
        W_enc: encodeAs(l.wEnc, dtype),
        W_dec: encodeAs(wDec, dtype),
        b_enc: encodeAs(l.bEnc, dtype),
        b_dec: encodeAs(l.bDec, dtype),
      };
      if (l.threshold) t['activation_function.threshold'] = encodeAs(l.threshold, dtype);
      if (l.wSkip) t.W_skip = encodeAs(l.wSkip, dtype);
      if (dict.activation.kind === 'topk') {
        t.k = { dtype: 'int64', shape: [], data: BigInt64Array.of(BigInt(dict.activation.k)) };
      }
      await files.writeFile(files.join(dir, `layer_${i}.safetensors`), writeSafetensors(t));
    } else {
      const t: Record<string, EncodeAs> = {
        [`W_enc_${i}`]: encodeAs(l.wEnc, dtype),
        [`b_enc_${i}`]: encodeAs(l.bEnc, dtype),
        [`b_dec_${i}`]: encodeAs(l.bDec, dtype),
      };
      if (l.threshold) t[`threshold_${i}`] = encodeAs(l.threshold, dtype);
      if (l.wSkip) t[`W_skip_${i}`] = encodeAs(transpose2d(l.wSkip), dtype);
      await files.writeFile(files.join(dir, `W_enc_${i}.safetensors`), writeSafetensors(t));
      await files.writeFile(
        files.join(dir, `W_dec_${i}.safetensors`),
        writeSafetensors({ [`W_dec_${i}`]: encodeAs(wDec as F32, dtype) }),
      );
    }
  }
  for (const key of ['model_name', 'scan']) if (dict.meta[key] !== undefined) cfg[key] = dict.meta[key];
  if (dict.activation.kind === 'topk') {
    cfg.activation = 'topk';
    cfg.k = dict.activation.k;
  } else if (dict.activation.kind === 'relu') {
    cfg.activation = 'relu';
  }
  await files.writeFile(files.join(dir, 'config.yaml'), stringifyYaml(cfg));
}
