/** Types of build.mjs, for the tests that import it. */
export const BUNDLE: string;
export const INPUTS: string;
export function isFresh(bundle?: string, inputsFile?: string): boolean;
export function buildBundle(): Promise<void>;
