/**
 * `loupe explain GRAPH.json`: an automatic first pass over a graph — proposed supernodes (features of one
 * position with similar edges and labels), each one's share of the top logit's influence, and the strongest
 * paths from the prompt's tokens to it — as JSON a workspace offers for accept / edit / discard.
 */
import { readFile } from 'node:fs/promises';
import { explainGraph, importGraphJson } from '@loupe/core';
import { z } from 'zod';
import { defineCommand } from '../args.ts';
import { defaultOut, outHelp, writeOutput } from '../output.ts';

const schema = z.object({
  graph: z
    .string({ error: 'required: the graph JSON file (loupe explain GRAPH.json)' })
    .regex(/\.json$/, 'the graph must be a .json file'),
  'merge-threshold': z
    .string()
    .regex(/^(0|1|0?\.\d+|1\.0*)$/, 'must be a number between 0 and 1')
    .transform(Number)
    .optional(),
  target: z.string().min(1, 'the target node id is empty').optional(),
  out: z
    .string()
    .regex(/\.json$/, 'must end in .json')
    .default(defaultOut('explain.json')),
});

export const command = defineCommand({
  name: 'explain',
  summary: 'Propose supernodes and summarise the strongest paths of a graph JSON (a first pass to review).',
  usage: 'GRAPH.json [--out FILE.json] [--merge-threshold F] [--target NODE_ID]',
  positional: 'graph',
  flags: {
    graph: { type: 'string', value: 'GRAPH.json', help: 'the graph (also accepted as the first argument)' },
    'merge-threshold': {
      type: 'string',
      value: 'F',
      help: 'similarity (0–1) at which features of one position join a supernode (default 0.5)',
    },
    target: { type: 'string', value: 'NODE_ID', help: 'the logit node to explain (default the most likely)' },
    out: { type: 'string', value: 'FILE.json', help: outHelp('output JSON', 'explain.json') },
  },
  schema,
  async run(o, io) {
    let text: string;
    try {
      text = await readFile(o.graph, 'utf8');
    } catch (e) {
      throw new Error(`cannot read ${o.graph}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    const graph = importGraphJson(text);
    const explanation = explainGraph(graph, {
      ...(o['merge-threshold'] !== undefined ? { mergeThreshold: o['merge-threshold'] } : {}),
      ...(o.target ? { target: o.target } : {}),
    });
    await writeOutput(o.out, `${JSON.stringify({ graph: o.graph, ...explanation }, null, 1)}\n`);
    io.out(`${explanation.summary}\nwrote ${o.out}`);
  },
});
