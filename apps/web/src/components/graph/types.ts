import type { GraphView, LoupeExtensions, Supernode, ViewPruning } from '@loupe/core';
import type { Ref } from 'react';
import type { QkEdge } from './qk-edges';

/** Sigma's camera in its framed coordinates: what the URL stores to reproduce a view. */
export interface CameraState {
  x: number;
  y: number;
  ratio: number;
}

export interface GraphRenderStats {
  nodes: number;
  edges: number;
  /** From the start of the graph build to the first frame drawn with it. */
  ms: number;
}

/** Imperative access for zoom buttons, keyboard navigation and benchmarks. */
export interface GraphCanvasController {
  getCamera: () => CameraState;
  setCamera: (camera: CameraState) => void;
  /** Animates the camera back to the whole graph. */
  fit: () => void;
  /** Pans (keeping the zoom) so that the node is in view. */
  focusNode: (id: string) => void;
  /** Calls back after every frame drawn; returns the unsubscribe function. */
  onFrame: (callback: () => void) => () => void;
  /** Where a drawn node is and its drawn radius, in page pixels; null when it is not drawn. */
  nodePosition: (id: string) => { x: number; y: number; radius: number } | null;
  /** Nodes and edges in the drawn graph. */
  drawn: () => { nodes: number; edges: number };
}

export interface GraphCanvasProps {
  controller?: Ref<GraphCanvasController>;
  view: GraphView;
  /** Kept nodes and edges; null or absent draws the stored graph whole. */
  pruning?: ViewPruning | null;
  selectedId: string | null;
  pinnedIds: readonly string[];
  /** Nodes marked apart from pins and selection (a suggested supernode's members while it is pointed at). */
  highlightIds?: readonly string[];
  /** The investigation's own node labels by node id. */
  labels?: ReadonlyMap<string, string> | null;
  /** A count drawn beside each node that has one (comments on it), by node id. */
  badges?: ReadonlyMap<string, number> | null;
  onSelect: (id: string | null) => void;
  /** Applied when it changes (e.g. from the URL); null fits the whole graph. */
  camera?: CameraState | null;
  /** After each pan or zoom settles. */
  onCameraChange?: (camera: CameraState) => void;
  /** Once per graph build, after its first frame. */
  onRendered?: (stats: GraphRenderStats) => void;
  className?: string;
}

export interface FeatureLabels {
  /** Shared with the team (features.annotate). */
  teamLabel?: string | null;
  /** Written by the feature index's automatic labelling. */
  autoLabel?: string | null;
}

export interface NodeDetailsProps {
  view: GraphView;
  pruning?: ViewPruning | null;
  selectedId: string | null;
  /** The investigation's label of the selected node ('' when none). */
  label: string;
  feature?: FeatureLabels | null;
  labels?: ReadonlyMap<string, string> | null;
  /** Absent for a reader who may not change the investigation: no label field then. */
  onSaveLabel?: (id: string, label: string) => void;
  onSelect: (id: string) => void;
  /** Edges listed each way (default 8). */
  edgeLimit?: number;
  /** The graph's recorded attention edges (`loupe.qk`); none when absent. */
  qk?: readonly QkEdge[];
  /** Inactive features' pre-activations (`loupe.inactive`) by node id. */
  inactive?: ReadonlyMap<string, LoupeExtensions['inactive'][number]> | null;
  /** A feature's page by node id, for features the graph does not hold; absent or null without a dictionary. */
  featureHref?: ((nodeId: string) => string | null) | null;
}

export interface PinnedNodesProps {
  view: GraphView;
  pinnedIds: readonly string[];
  supernodes: readonly Supernode[];
  labels?: ReadonlyMap<string, string> | null;
  selectedId: string | null;
  onSelect: (id: string) => void;
  /** Absent for a reader who may not change the investigation: no unpin buttons then. */
  onUnpin?: (id: string) => void;
  /** Index into supernodes. Absent for a reader who may not change the investigation: no Ungroup buttons then. */
  onUngroup?: (index: number) => void;
}

export interface Thresholds {
  nodeThreshold: number;
  edgeThreshold: number;
}

export interface ThresholdControlsProps extends Thresholds {
  pruning: ViewPruning | null;
  onChange: (next: Thresholds) => void;
}

export interface ShortcutsHelpProps {
  open: boolean;
  onOpenChange: (open: boolean) => void;
}

export interface NodeSearchProps {
  view: GraphView;
  labels?: ReadonlyMap<string, string> | null;
  open: boolean;
  onOpenChange: (open: boolean) => void;
  onSelect: (id: string) => void;
}

/** Each handler gets the key's event (e.g. to tell an Escape that closed a dialog from one that did not). */
export interface GraphShortcutHandlers {
  /** j */
  next: (event: KeyboardEvent) => void;
  /** k */
  previous: (event: KeyboardEvent) => void;
  /** p */
  pin: (event: KeyboardEvent) => void;
  /** g */
  group: (event: KeyboardEvent) => void;
  /** / */
  search: (event: KeyboardEvent) => void;
  /** Escape, also from inside textboxes */
  clear: (event: KeyboardEvent) => void;
  /** ? */
  help: (event: KeyboardEvent) => void;
}
