/**
 * What the replacement model holds fixed, in one place for attribution and interventions. Attribution's
 * linearisation and the direct-effect interventions (constrained mode) replace every MLP with a dictionary
 * and freeze, at their clean-run values, what would otherwise make the map from feature activations to the
 * residual stream nonlinear: the attention patterns, every norm's denominator (ln1, ln2, Gemma-2's two
 * post-norms, ln_final) and the MLP outputs (less a transcoder's linear skip path, which stays live). The
 * frozen-attention interventions freeze the patterns only.
 */
import type { ModelConfig } from './config.ts';
import { blockHook, type HookName, hookDims } from './hooks.ts';

/** A clean-run value the replacement model freezes. */
export type FrozenSite =
  | { kind: 'pattern'; layer: number }
  | { kind: 'normScale'; layer: number; norm: 'ln1' | 'ln2' }
  /** Gemma-2's post-attention and post-MLP norms, which have no hook point. */
  | { kind: 'postNormScale'; layer: number; norm: 'ln1_post' | 'ln2_post' }
  | { kind: 'finalNormScale' }
  | { kind: 'mlpOut'; layer: number };

/** Where gradients stop in Model.vjp's linearisation: each kind covers one family of FrozenSite. */
export type FreezeKind = 'attn.hook_pattern' | 'ln.hook_scale' | 'mlp';

/** Every freeze kind: the whole replacement-model linearisation. */
export const REPLACEMENT_FREEZE: readonly FreezeKind[] = ['attn.hook_pattern', 'ln.hook_scale', 'mlp'];

export function freezeKindOf(site: FrozenSite): FreezeKind {
  if (site.kind === 'pattern') return 'attn.hook_pattern';
  if (site.kind === 'mlpOut') return 'mlp';
  return 'ln.hook_scale';
}

/**
 * The sites frozen with these kinds, in forward order: per layer the pattern, ln1 and its post-norm, ln2 and
 * its post-norm, the MLP output; then ln_final.
 */
export function frozenSites(
  config: ModelConfig,
  kinds: readonly FreezeKind[] = REPLACEMENT_FREEZE,
): FrozenSite[] {
  const all: FrozenSite[] = [];
  for (let layer = 0; layer < config.nLayers; layer++) {
    all.push({ kind: 'pattern', layer }, { kind: 'normScale', layer, norm: 'ln1' });
    if (config.postNorms) all.push({ kind: 'postNormScale', layer, norm: 'ln1_post' });
    all.push({ kind: 'normScale', layer, norm: 'ln2' });
    if (config.postNorms) all.push({ kind: 'postNormScale', layer, norm: 'ln2_post' });
    all.push({ kind: 'mlpOut', layer });
  }
  all.push({ kind: 'finalNormScale' });
  return all.filter((s) => kinds.includes(freezeKindOf(s)));
}

/** A site with a hook point of its own. */
type HookedSite = Exclude<FrozenSite, { kind: 'postNormScale' | 'mlpOut' }>;

function ownHook(site: HookedSite): HookName {
  switch (site.kind) {
    case 'pattern':
      return blockHook(site.layer, 'attn.hook_pattern');
    case 'normScale':
      return blockHook(site.layer, `${site.norm}.hook_scale`);
    case 'finalNormScale':
      return 'ln_final.hook_scale';
  }
}

/** The hook point that carries a site's value; post-norm scales and MLP outputs have none of their own. */
export function frozenSiteHook(site: FrozenSite): HookName | undefined {
  return site.kind === 'postNormScale' || site.kind === 'mlpOut' ? undefined : ownHook(site);
}

/**
 * A site's value shape for one sequence of length T: its hook point's, or for a site without one, that of its
 * layer's ln1 scale (post-norm scales) or MLP output.
 */
export function frozenSiteShape<D extends number | string>(
  config: ModelConfig,
  site: FrozenSite,
  T: D,
): (number | D)[] {
  if (site.kind === 'postNormScale') return hookDims(config, blockHook(site.layer, 'ln1.hook_scale'), T);
  if (site.kind === 'mlpOut') return hookDims(config, blockHook(site.layer, 'mlp.hook_out'), T);
  return hookDims(config, ownHook(site), T);
}
