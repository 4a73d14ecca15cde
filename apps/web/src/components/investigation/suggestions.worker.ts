// The automatic first pass off the page's thread: on a 5,000-node graph it takes seconds, which would freeze
// the explorer that has just opened.
import { firstPass } from './suggestions-model';

export interface FirstPassRequest {
  graph: Parameters<typeof firstPass>[0];
  /** Team labels as [layer:index, label] pairs. */
  labels: [string, string][];
}

export type FirstPassReply = { pass: ReturnType<typeof firstPass> } | { error: string };

self.onmessage = (e: MessageEvent<FirstPassRequest>) => {
  let reply: FirstPassReply;
  try {
    reply = { pass: firstPass(e.data.graph, new Map(e.data.labels)) };
  } catch (err) {
    reply = { error: err instanceof Error ? err.message : String(err) };
  }
  self.postMessage(reply);
};
