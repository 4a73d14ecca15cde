export { concatBytes } from './bytes.ts';
export { type ByteSource, bytesSource, type FileAccess } from './files.ts';
export {
  bf16ToFloat,
  bf16ArrayToFloat32,
  float32ToBf16Array,
  float32ToHalfArray,
  floatToBf16,
  floatToHalf,
  halfArrayToFloat32,
  halfToFloat,
} from './half.ts';
export {
  decodeTensorBytes,
  type EncodeAs,
  MAX_HEADER_BYTES,
  parseSafetensorsHeader,
  readAllSafetensors,
  SafetensorsFile,
  type SafetensorsDType,
  type TensorInfo,
  writeSafetensors,
} from './safetensors.ts';
export { parseHfConfig, SUPPORTED_HF_ARCHITECTURES, toHfConfig } from './config.ts';
export {
  type Checkpoint,
  loadCheckpoint,
} from './checkpoint.ts';
export { type SaveOptions, saveCheckpoint, toHfTensors } from './checkpoint-save.ts';
export {
  checkTokenIds,
  loadTokenizer,
  type PromptInput,
  prepareTokens,
  specialAddedToken,
  type Tokenizer,
} from './tokenizer.ts';
export { parseNpy, readNpz, writeNpy } from './npz.ts';
