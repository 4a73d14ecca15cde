/**
 * One intervention request as the CLI, the worker and the browser run it: `L:P:F=V` sets and supernode
 * scales, one mode or all three compared, optional greedy generation. All three produce the same JSON report,
 * so a run on the worker and the same run in a page can be compared number by number.
 */
import type { Intervener } from './intervener.ts';
import type { GenerationReport, InterventionReport, ModeComparison } from './types.ts';
import {
  type FeatureIntervention,
  type GroupScale,
  INTERVENTION_MODES,
  type InterventionMode,
  parseFeatureGroup,
  parseSetSpec,
} from './spec.ts';

export interface InterventionRequest {
  /** The CLI's `L:P:F=V` strings. */
  set: readonly string[];
  /** Each supernode inline (the JSON a CLI group file holds) and its factor. */
  scale: readonly { group: unknown; factor: number }[];
  mode: InterventionMode;
  /** Run all three modes from one clean run and compare them. */
  compare: boolean;
  /** Greedy tokens to generate in `mode`, clean and intervened. */
  generate?: number;
  topK: number;
}

/** What `loupe intervene` stores as its report: per-mode runs, mode comparisons, any generation. */
export interface InterventionRunReport {
  runs: InterventionReport[];
  pairs: ModeComparison['pairs'];
  generation?: GenerationReport;
}

/** The request's sets and scales parsed; throws naming the first malformed one. */
export function parseInterventionRequest(req: Pick<InterventionRequest, 'set' | 'scale'>): {
  features: FeatureIntervention[];
  scales: GroupScale[];
} {
  return {
    features: req.set.map((s) => parseSetSpec(s)),
    scales: req.scale.map((s, i) => ({ group: parseFeatureGroup(s.group, `scale[${i}]`), factor: s.factor })),
  };
}

export interface RunInterventionOptions {
  signal?: AbortSignal;
  /** Called after the mode runs, before any generation. */
  onModesDone?: () => void;
}

/** Runs a request on `tokens`; the report is plain JSON (no typed arrays, no undefined fields). */
export async function runInterventionRequest(
  iv: Intervener,
  tokens: Int32Array,
  req: InterventionRequest,
  options: RunInterventionOptions = {},
): Promise<InterventionRunReport> {
  const spec = parseInterventionRequest(req);
  const modes: InterventionMode[] = req.compare ? [...INTERVENTION_MODES] : [req.mode];
  const cmp = await iv.compareModes(tokens, spec, modes, { topK: req.topK, signal: options.signal });
  options.onModesDone?.();
  const report: InterventionRunReport = { runs: cmp.runs.map((r) => r.report), pairs: cmp.pairs };
  if (req.generate !== undefined) {
    options.signal?.throwIfAborted();
    const gen = await iv.generate(tokens, spec, {
      mode: req.mode,
      maxNewTokens: req.generate,
      topK: req.topK,
      signal: options.signal,
    });
    report.generation = gen.report;
  }
  return JSON.parse(JSON.stringify(report));
}
