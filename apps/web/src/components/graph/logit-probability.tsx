import { KIND_COLORS } from './colors';

/**
 * A probability as the panels write it: three significant digits from 10%, two below, which shows how small the
 * tail is without a wall of zeros; under 0.01% it reads as tiny.
 */
export function probabilityText(p: number): string {
  if (!Number.isFinite(p)) return '—';
  return p >= 1e-4 ? `${(100 * p).toPrecision(p >= 0.1 ? 3 : 2)}%` : '<0.01%';
}

/**
 * An output token's probability as a bar on a 0–100% scale with its number: the model's own next-token
 * probability from the traced graph, not its rank among the logits and not the share it seeds influence with.
 */
export function LogitProbability({ probability }: { probability: number }) {
  const known = Number.isFinite(probability) && probability > 0;
  const title = known
    ? 'Probability the model gives this token as the next one, on the traced prompt'
    : 'The graph file does not record this token’s probability';
  return (
    <span title={title} style={{ display: 'inline-flex', alignItems: 'center', gap: 6, width: '100%' }}>
      <span
        role="meter"
        aria-label="Next-token probability"
        aria-valuemin={0}
        aria-valuemax={1}
        aria-valuenow={known ? probability : 0}
        aria-valuetext={known ? probabilityText(probability) : 'unknown'}
        style={{
          flex: '1 1 auto',
          maxWidth: 120,
          height: 8,
          borderRadius: 2,
          background: 'color-mix(in srgb, currentColor 12%, transparent)',
          overflow: 'hidden',
        }}
      >
        <span
          style={{
            display: 'block',
            height: '100%',
            width: `${known ? Math.min(100, probability * 100) : 0}%`,
            background: KIND_COLORS.logit,
          }}
        />
      </span>
      <span>{known ? probabilityText(probability) : 'unknown'}</span>
    </span>
  );
}
