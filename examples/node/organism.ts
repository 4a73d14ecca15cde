/**
 * Where the examples find the shipped organism-s and its per-layer transcoders: in this repository, next to
 * these scripts. Any Hugging Face checkpoint directory and circuit-tracer, SAELens or GemmaScope dictionary
 * directory loads the same way.
 */
import { join } from 'node:path';

const models = join(import.meta.dirname, '../../packages/organism/models');

export const ORGANISM_S = join(models, 'organism-s');
export const ORGANISM_S_PLT = join(models, 'organism-s/dictionaries/plt-2048');
