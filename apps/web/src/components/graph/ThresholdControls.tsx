'use client';

import { Slider, Tooltip } from 'radix-ui';
import { type ReactNode, useEffect, useState } from 'react';
import { formatNumber } from './colors';
import styles from './graph.module.css';
import type { ThresholdControlsProps } from './types';

function Hint({ text, children }: { text: string; children: ReactNode }) {
  return (
    <Tooltip.Root>
      <Tooltip.Trigger asChild>
        <span className={styles.hint} tabIndex={0}>
          {children}
        </span>
      </Tooltip.Trigger>
      <Tooltip.Portal>
        <Tooltip.Content className={styles.tooltipContent} sideOffset={4}>
          {text}
        </Tooltip.Content>
      </Tooltip.Portal>
    </Tooltip.Root>
  );
}

function ThresholdSlider({
  name,
  value,
  onCommit,
}: {
  name: string;
  value: number;
  onCommit: (v: number) => void;
}) {
  // The graph re-prunes on release, not on every pixel of a drag.
  const [live, setLive] = useState(value);
  useEffect(() => setLive(value), [value]);
  return (
    <div className={styles.sliderRow}>
      <span className={styles.sliderName}>{name}</span>
      <Slider.Root
        className={styles.slider}
        min={0}
        max={1}
        step={0.01}
        value={[live]}
        onValueChange={([v]) => setLive(v)}
        onValueCommit={([v]) => onCommit(v)}
      >
        <Slider.Track className={styles.sliderTrack}>
          <Slider.Range className={styles.sliderRange} />
        </Slider.Track>
        <Slider.Thumb className={styles.sliderThumb} aria-label={name} />
      </Slider.Root>
      <output className={styles.mono}>{live.toFixed(2)}</output>
    </div>
  );
}

/** Pruning thresholds (cumulative influence kept), with what they leave and how complete that is. */
export function ThresholdControls({
  nodeThreshold,
  edgeThreshold,
  pruning,
  onChange,
}: ThresholdControlsProps) {
  return (
    <Tooltip.Provider delayDuration={200}>
      <section className={styles.thresholds} aria-label="Pruning">
        <ThresholdSlider
          name="Node threshold"
          value={nodeThreshold}
          onCommit={(v) => onChange({ nodeThreshold: v, edgeThreshold })}
        />
        <ThresholdSlider
          name="Edge threshold"
          value={edgeThreshold}
          onCommit={(v) => onChange({ nodeThreshold, edgeThreshold: v })}
        />
        <div className={styles.stats}>
          <Hint text="Nodes kept: the most influential nodes carrying the node threshold's share of all influence on the output, plus every token and logit.">
            <b>{pruning ? pruning.nodeCount : '—'}</b> nodes
          </Hint>
          <Hint text="Edges kept: the strongest links carrying the edge threshold's share of edge influence among the kept nodes.">
            <b>{pruning ? pruning.edgeCount : '—'}</b> edges
          </Hint>
          <Hint text="Replacement score: the share of influence from the prompt's tokens to the output that flows through features rather than error nodes (1 = the features explain everything).">
            replacement <b>{pruning ? formatNumber(pruning.scores.replacement) : '—'}</b>
          </Hint>
          <Hint text="Completeness score: the influence-weighted share of each node's input that comes from features and tokens rather than error nodes (1 = no unexplained input).">
            completeness <b>{pruning ? formatNumber(pruning.scores.completeness) : '—'}</b>
          </Hint>
        </div>
      </section>
    </Tooltip.Provider>
  );
}
