import type { JobHandler } from '../registry.ts';
import { attributeHandler } from './attribute.ts';
import { diagnosticsHandler } from './diagnostics.ts';
import { interveneHandler } from './intervene.ts';

/**
 * Every kind this worker can run. index-features and train-dictionary have their params schemas in this folder
 * and join the list once their handlers are written against the core entry points (issue #9).
 */
export const builtinHandlers: readonly JobHandler[] = [
  attributeHandler,
  diagnosticsHandler,
  interveneHandler,
];
