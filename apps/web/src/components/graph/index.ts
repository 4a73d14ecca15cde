export { AttentionEdges } from './Attention';
export { GraphCanvas } from './GraphCanvas';
export { NodeDetails } from './NodeDetails';
export { NodeSearch } from './NodeSearch';
export { PinnedNodes } from './PinnedNodes';
export { GRAPH_SHORTCUTS, ShortcutsHelp, useGraphShortcuts } from './ShortcutsHelp';
export { ThresholdControls } from './ThresholdControls';
export type {
  CameraState,
  FeatureLabels,
  GraphCanvasController,
  GraphCanvasProps,
  GraphRenderStats,
  GraphShortcutHandlers,
  NodeDetailsProps,
  NodeSearchProps,
  PinnedNodesProps,
  ShortcutsHelpProps,
  ThresholdControlsProps,
  Thresholds,
} from './types';
