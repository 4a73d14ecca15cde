/**
 * The training half of @loupe/core (TrainingSession, the transformer training spec, initialisation) is not
 * exported from the package entry yet, so this is the one place the organism reaches into core's source.
 * When core exports it, only these lines change.
 */
export { initWeights } from '../../core/src/model/init.ts';
export { TrainingSession } from '../../core/src/train/training.ts';
export {
  transformerParameters,
  transformerTrainingSpec,
  weightsFromParameters,
} from '../../core/src/train/transformer.ts';
