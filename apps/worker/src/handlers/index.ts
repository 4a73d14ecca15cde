import type { JobHandler } from '../registry.ts';
import { attributeHandler } from './attribute.ts';
import { diagnosticsHandler } from './diagnostics.ts';
import { indexFeaturesHandler } from './index-features.ts';
import { interveneHandler } from './intervene.ts';
import { trainDictionaryHandler } from './train-dictionary.ts';

/** Every kind this worker can run. */
export const builtinHandlers: readonly JobHandler[] = [
  attributeHandler,
  diagnosticsHandler,
  indexFeaturesHandler,
  interveneHandler,
  trainDictionaryHandler,
];
