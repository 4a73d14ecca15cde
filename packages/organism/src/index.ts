export * from './curriculum/index.ts';
export {
  type AccuracyRow,
  accuracyTable,
  evaluate,
  formatTable,
  GOALS,
  type Generate,
  type ItemResult,
  rhymes,
  scoreAll,
  scoreItem,
} from './eval/score.ts';
export {
  buildTokenizerFiles,
  buildVocab,
  loadTokenizer,
  MAX_NUMBER_TOKEN,
  type OrganismTokenizer,
  preTokenize,
  SPECIAL_TOKENS,
  type TokenizerFiles,
} from './tokenizer.ts';
export { type Batch, type BatcherOptions, batches } from './batches.ts';
export { ORGANISM_N_CTX, type OrganismSize, organismConfig, parameterCount, SIZES } from './sizes.ts';
