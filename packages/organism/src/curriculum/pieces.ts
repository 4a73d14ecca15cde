/**
 * How text splits into tokens; shared by the curriculum (to keep documents within the context) and by the
 * tokenizer.json pre-tokenizer. One piece per Latin word (an inner apostrophe included: "don't"), per
 * number, per newline, and per other non-space character (punctuation, each Chinese character).
 */
export const LATIN_CLASS = 'A-Za-zÀ-ÖØ-öø-ÿŒœ';
export const PRE_TOKENIZER_PATTERN = `\\n|[0-9]+|[${LATIN_CLASS}]+(?:'[${LATIN_CLASS}]+)?|[^\\s${LATIN_CLASS}0-9]`;

export function preTokenize(text: string): string[] {
  return text.match(new RegExp(PRE_TOKENIZER_PATTERN, 'gu')) ?? [];
}

/** Longest document in tokens, leaving room for <bos> and <eos> in a 64-token context. */
export const MAX_DOC_TOKENS = 62;
