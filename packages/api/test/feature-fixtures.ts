import { cantorPair, encodeFeatureLayer, type FeatureJson } from '@loupe/core';

/** A small but schema-complete circuit-tracer feature record of (layer, feature). */
export function featureJson(
  layer: number,
  feature: number,
  density = 0.01,
  topLogits = ['cat', 'dog'],
): FeatureJson {
  return {
    transcoder_id: 'test',
    index: cantorPair(layer, feature),
    examples_quantiles: [
      {
        quantile_name: 'Top activations',
        examples: [
          {
            tokens_acts_list: [0, 1.5, 0.25],
            train_token_ind: 1,
            is_repeated_datapoint: false,
            tokens: ['the', ' cat', ' sat'],
          },
        ],
      },
    ],
    top_logits: topLogits,
    bottom_logits: ['zzz'],
    act_min: 0,
    act_max: 1.5 + feature,
    quantile_values: [0.5, 1.5],
    histogram: [3, 2, 1],
    activation_frequency: density,
  };
}

/** One layer_{l}.bin record of `feature`, base64, as the worker uploads it. */
export function recordBase64(feature: FeatureJson): string {
  const { bytes } = encodeFeatureLayer([feature]);
  return Buffer.from(bytes).toString('base64');
}

export function featureRecordBase64(layer: number, feature: number, density?: number): string {
  return recordBase64(featureJson(layer, feature, density));
}
