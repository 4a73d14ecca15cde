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
export {
  dictionaryCorpus,
  type IndexCorpus,
  indexCorpus,
  organismDictionaryCorpus,
} from './dictionary-corpus.ts';
export { ORGANISM_N_CTX, type OrganismSize, organismConfig, parameterCount, SIZES } from './sizes.ts';
export { type EvalRunOptions, evaluateCheckpoint } from './eval/run.ts';
export {
  accuracyMarkdown,
  generatedDocs,
  lossCurveSvg,
  parseCurve,
  parseEvalRows,
  type ShippedReport,
  shippedReport,
  sizesTable,
} from './report.ts';
export {
  type CurvePoint,
  decodeOptimizerState,
  encodeOptimizerState,
  type TrainOptions,
  type TrainResult,
  trainOrganism,
} from './train.ts';
