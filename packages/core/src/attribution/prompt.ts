/**
 * Prompt conventions of circuit-tracer's ensure_tokenized and zero_positions. Position 0 has an
 * abnormal norm and too many active features, so a special token is put there and positions in the zero prefix
 * get no feature nodes and zero error vectors; their token nodes remain.
 */

export interface SpecialTokenIds {
  bosTokenId?: number | null;
  padTokenId?: number | null;
  eosTokenId?: number | null;
  allSpecialIds: readonly number[];
}

/** `<bos><start_of_turn>user\n`, the prefix every Gemma-3 -it prompt must start with. */
export const GEMMA3_IT_PREFIX: readonly number[] = [2, 105, 2364, 107];

export function isGemma3It(modelName: string): boolean {
  return modelName.includes('gemma-3') && modelName.endsWith('-it');
}

/** Length of the leading slice without features or errors: 4 for Gemma-3 -it, otherwise 1 (the BOS). */
export function zeroPositionCount(modelName: string): number {
  return isGemma3It(modelName) ? GEMMA3_IT_PREFIX.length : 1;
}

/**
 * Prepends a special token unless the prompt already starts with one. The candidate is the first non-zero of
 * bos, pad, eos, then all special ids (the reference filters falsy ids, so id 0 is never chosen). Gemma-3 -it
 * prompts must already start with GEMMA3_IT_PREFIX and are returned unchanged.
 */
export function ensureLeadingSpecialToken(
  tokens: ArrayLike<number>,
  special: SpecialTokenIds,
  modelName = '',
): { tokens: Int32Array; prepended: boolean } {
  if (tokens.length === 0) throw new Error('prompt has no tokens');
  for (let i = 0; i < tokens.length; i++) {
    if (!Number.isInteger(tokens[i]) || tokens[i] < 0)
      throw new Error(`prompt token ${i} is not a token id: ${tokens[i]}`);
  }
  const ids = Int32Array.from(tokens);
  if (isGemma3It(modelName)) {
    const ok = ids.length >= GEMMA3_IT_PREFIX.length && GEMMA3_IT_PREFIX.every((t, i) => ids[i] === t);
    if (!ok) {
      throw new Error(
        `${modelName} prompts must start with <bos><start_of_turn>user\\n (${GEMMA3_IT_PREFIX.join(', ')}), got ${Array.from(ids.subarray(0, 4)).join(', ')}`,
      );
    }
    return { tokens: ids, prepended: false };
  }
  if (special.allSpecialIds.includes(ids[0])) return { tokens: ids, prepended: false };
  const candidate = [
    special.bosTokenId,
    special.padTokenId,
    special.eosTokenId,
    ...special.allSpecialIds,
  ].find((t): t is number => typeof t === 'number' && t !== 0);
  // Without any special token the first real token plays the BOS role and is ignored like one.
  if (candidate === undefined) return { tokens: ids, prepended: false };
  const out = new Int32Array(ids.length + 1);
  out[0] = candidate;
  out.set(ids, 1);
  return { tokens: out, prepended: true };
}
