/**
 * Fenced code blocks of a markdown file, with their info strings, so that tests can run what the docs show.
 * A block's info string is its language and then words: ```sh runnable, ```text output.
 */

export interface FencedBlock {
  /** 1-based line of the opening fence. */
  line: number;
  lang: string;
  /** The info string's words after the language. */
  words: string[];
  body: string;
}

/** Every ``` block in order; a block left open at the end of the file is an error. */
export function fencedBlocks(markdown: string): FencedBlock[] {
  const lines = markdown.split('\n');
  const blocks: FencedBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^(\s*)```(.*)$/.exec(lines[i]);
    if (!open) continue;
    const indent = open[1];
    const [lang = '', ...words] = open[2].trim().split(/\s+/).filter(Boolean);
    const end = lines.findIndex((l, j) => j > i && l.trim() === '```');
    if (end < 0) throw new Error(`line ${i + 1}: a code block is never closed`);
    const body = lines
      .slice(i + 1, end)
      .map((l) => (l.startsWith(indent) ? l.slice(indent.length) : l))
      .join('\n');
    blocks.push({ line: i + 1, lang, words, body });
    i = end;
  }
  return blocks;
}

/** The text under `## heading` up to the next `## `, its ### subsections included. */
export function section(markdown: string, heading: string): string {
  const start = markdown.indexOf(`\n## ${heading}\n`);
  if (start < 0) throw new Error(`no section '## ${heading}'`);
  const next = markdown.indexOf('\n## ', start + 1);
  return markdown.slice(start, next < 0 ? undefined : next);
}

export const RUNNABLE = 'runnable';
export const OUTPUT = 'output';

export interface RunnableBlock extends FencedBlock {
  /** Lines the run's stdout must contain, from a ```text output block right after this one. */
  expected: string[];
}

/** The blocks marked runnable, each with the output block that follows it, if any. */
export function runnableBlocks(markdown: string): RunnableBlock[] {
  const blocks = fencedBlocks(markdown);
  return blocks.flatMap((b, i) => {
    if (!b.words.includes(RUNNABLE)) return [];
    if (b.lang !== 'sh' && b.lang !== 'ts')
      throw new Error(`line ${b.line}: runnable blocks are sh or ts, not '${b.lang}'`);
    const next = blocks[i + 1];
    const expected =
      next?.words.includes(OUTPUT) === true
        ? next.body
            .split('\n')
            .map((l) => l.trim())
            .filter((l) => l !== '')
        : [];
    return [{ ...b, expected }];
  });
}
