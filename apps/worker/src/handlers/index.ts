import type { JobHandler } from '../registry.ts';
import { diagnosticsHandler } from './diagnostics.ts';

/**
 * Every kind this worker can run. attribute, intervene, index-features and train-dictionary have their params
 * schemas in this folder and join the list once their core entry points exist (issue #9).
 */
export const builtinHandlers: readonly JobHandler[] = [diagnosticsHandler];
