/**
 * `@loupe/core/testing`: the fixtures that the apps' tests share with core's own — seeded random checkpoints
 * written in Hugging Face layout, random dictionaries, and a model + transcoder pair on disk for attribution.
 */
export { writeAttributeFixture } from './attribution-trace-fixtures.ts';
export * from './fixtures/checkpoints.ts';
export { randomDictionary } from './intervention-fixtures.ts';
