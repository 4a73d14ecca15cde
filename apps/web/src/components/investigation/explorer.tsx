'use client';

// Over 450 lines: the explorer is the one place where an investigation's state (the URL's view, the saved pins,
// labels and supernodes, the pruning at the current thresholds, the selection) meets the canvas, the panels and
// the keyboard; its parts are separate components, and splitting the state would pass most of it back as props.

import {
  type ExplainableGraph,
  type GraphView,
  nodeTitle,
  pruneView,
  rankByInfluence,
  readLoupeExtensions,
  stepRanking,
  type Supernode,
} from '@loupe/core';
import { useQuery } from '@tanstack/react-query';
import { Tabs } from 'radix-ui';
import { useCallback, useDeferredValue, useEffect, useMemo, useRef, useState } from 'react';
import {
  AttentionEdges,
  GraphCanvas,
  NodeDetails,
  NodeSearch,
  PinnedNodes,
  ShortcutsHelp,
  ThresholdControls,
  type Thresholds,
  useGraphShortcuts,
} from '@/components/graph';
import type { Edit, InvestigationDoc, Touches } from '@/lib/investigation-doc';
import { useMe } from '@/lib/session';
import { useViewUrl } from '@/lib/view-url';
import { useTRPC } from '@/trpc/client';
import { CommentsPanel, countByNode, useComments } from '../collab/comments';
import { HistoryPanel } from '../collab/history';
import { PresentNow } from '../collab/presence';
import { ShareButton } from '../collab/share';
import { FeatureView, featureHref } from '../feature/feature-view';
import { featureKeyOf } from '../graph/feature-key';
import { InterventionLab } from '../intervention/lab';
import { useTeam } from '../team-shell';
import { ReadOnlyBadge } from '../status';
import { GroupDialog } from './group-dialog';
import { CopyToTeam } from './copy-to-team';
import { InvestigationHeader } from './header';
import { NotesPanel } from './notes-panel';
import { SuggestionsPanel, useFirstPass } from './suggestions';
import type { Suggestion } from './suggestions-model';

const defaultThresholds: Thresholds = { nodeThreshold: 0.8, edgeThreshold: 0.98 };
/** Slider moves are saved once they pause, not on every step. */
const thresholdSaveDelayMs = 600;

function percent(x: number): string {
  return Number.isFinite(x) ? `${(x * 100).toFixed(1)}%` : '—';
}

function newSupernodeId(): string {
  return `sn-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
}

/**
 * The graph explorer wired to an investigation: the view (selection, pins, thresholds, camera) lives in the URL,
 * and everything meant to last (pins, supernodes, node labels, thresholds) is also saved to the investigation.
 */
export function Explorer({
  doc,
  view,
  graph,
  edit,
  saving,
}: {
  doc: InvestigationDoc;
  view: GraphView;
  /** The graph file the view was built from: the automatic first pass reads it. */
  graph: ExplainableGraph;
  edit: (change: Edit, what: string, touches?: Touches) => void;
  saving: boolean;
}) {
  const team = useTeam();
  const trpc = useTRPC();
  const [url, setUrl] = useViewUrl();
  const [searchOpen, setSearchOpen] = useState(false);
  const [helpOpen, setHelpOpen] = useState(false);
  const [groupOpen, setGroupOpen] = useState(false);
  const [editing, setEditing] = useState<Suggestion | null>(null);
  const [highlight, setHighlight] = useState<readonly string[] | null>(null);
  const [tab, setTab] = useState('graph');
  const me = useMe();
  const canWrite = team.role !== 'viewer';
  const comments = useComments(doc.id);
  const commentCounts = useMemo(() => countByNode(comments.data?.items ?? []), [comments.data]);

  const pins = useMemo(
    () => (url.pins ?? doc.pinnedNodes).filter((id) => view.index.has(id)),
    [url.pins, doc.pinnedNodes, view],
  );
  // Pins in the URL are this view's; when the saved pins change (a teammate, a restore), the view follows them.
  const seenPins = useRef(doc.pinnedNodes);
  useEffect(() => {
    if (seenPins.current === doc.pinnedNodes) return;
    const same =
      seenPins.current.length === doc.pinnedNodes.length &&
      seenPins.current.every((id, i) => doc.pinnedNodes[i] === id);
    seenPins.current = doc.pinnedNodes;
    if (!same && url.pins !== null) void setUrl({ pins: doc.pinnedNodes });
  }, [doc.pinnedNodes, url.pins, setUrl]);
  const thresholds: Thresholds = {
    nodeThreshold: url.nt ?? doc.thresholds.node ?? defaultThresholds.nodeThreshold,
    edgeThreshold: url.et ?? doc.thresholds.edge ?? defaultThresholds.edgeThreshold,
  };
  const deferred = useDeferredValue(thresholds);
  const pruning = useMemo(
    () => pruneView(view, { nodeThreshold: deferred.nodeThreshold, edgeThreshold: deferred.edgeThreshold }),
    [view, deferred.nodeThreshold, deferred.edgeThreshold],
  );
  const ranking = useMemo(() => rankByInfluence(view, pruning.nodeMask), [view, pruning]);
  const selectedId = url.node && view.index.has(url.node) ? url.node : null;
  const selected = selectedId === null ? null : (view.index.get(selectedId) ?? null);
  const labels = useMemo(() => new Map(Object.entries(doc.nodeLabels)), [doc.nodeLabels]);
  const supernodes: Supernode[] = useMemo(
    // Members the pruned trace dropped cannot be shown (a seeded example names every member it found).
    () =>
      doc.supernodes.map((s) => ({ label: s.name, nodeIds: s.nodeIds.filter((id) => view.index.has(id)) })),
    [doc.supernodes, view],
  );
  const title = useCallback(
    (id: string) => nodeTitle(view, view.index.get(id) ?? 0, labels.get(id)),
    [view, labels],
  );

  const select = useCallback((id: string | null) => void setUrl({ node: id }), [setUrl]);
  // Attention edges and inactive features, when the file was traced with them (the CLI's --qk, --include-inactive).
  const loupe = useMemo(() => readLoupeExtensions(graph), [graph]);
  const inactive = useMemo(() => new Map(loupe.inactive.map((t) => [t.node_id, t])), [loupe]);
  const pageOf = useMemo(() => {
    const dictionaryId = doc.dictionaryId;
    if (!dictionaryId) return null;
    return (nodeId: string) => {
      const key = featureKeyOf(nodeId);
      return key ? featureHref(team.id, { dictionaryId, ...key }) : null;
    };
  }, [doc.dictionaryId, team.id]);

  const setPinned = useCallback(
    (id: string, pinned: boolean) => {
      const next = pinned ? [...pins.filter((p) => p !== id), id] : pins.filter((p) => p !== id);
      void setUrl({ pins: next });
      // A reader's pins stay in the URL: this view's, not the investigation's.
      if (!canWrite) return;
      edit(
        (d) => ({
          pinnedNodes: pinned
            ? [...d.pinnedNodes.filter((p) => p !== id), id]
            : d.pinnedNodes.filter((p) => p !== id),
        }),
        `${pinned ? 'pin' : 'unpin'} of "${title(id)}"`,
      );
    },
    [pins, setUrl, edit, title, canWrite],
  );

  const group = useCallback(
    (name: string) => {
      const nodeIds = [...pins];
      edit(
        (d) => ({ supernodes: [...d.supernodes, { id: newSupernodeId(), name, nodeIds }] }),
        `supernode "${name}"`,
      );
    },
    [pins, edit],
  );

  const firstPass = useFirstPass(graph, doc.dictionaryId);
  // One save adds the supernode (its members pinned, as grouping by hand groups pinned nodes) and marks the
  // suggestion reviewed; a suggestion already reviewed (a teammate accepted it meanwhile) adds nothing.
  const review = useCallback(
    (s: Suggestion, name: string | null) => {
      edit(
        (d) =>
          d.reviewedSuggestions.includes(s.key)
            ? {}
            : {
                reviewedSuggestions: [...d.reviewedSuggestions, s.key],
                ...(name === null
                  ? {}
                  : {
                      pinnedNodes: [...d.pinnedNodes, ...s.members.filter((m) => !d.pinnedNodes.includes(m))],
                      supernodes: [...d.supernodes, { id: newSupernodeId(), name, nodeIds: s.members }],
                    }),
              },
        name === null ? `dismissal of the suggestion "${s.label}"` : `supernode "${name}"`,
      );
    },
    [edit],
  );

  const ungroup = useCallback(
    (index: number) => {
      const sn = doc.supernodes[index];
      if (!sn) return;
      edit((d) => ({ supernodes: d.supernodes.filter((s) => s.id !== sn.id) }), `ungrouping of "${sn.name}"`);
    },
    [doc.supernodes, edit],
  );

  const saveLabel = useCallback(
    (id: string, label: string) => {
      const text = label.trim();
      edit(
        (d) => {
          const next = { ...d.nodeLabels };
          if (text === '') delete next[id];
          else next[id] = text;
          return { nodeLabels: next };
        },
        `label of "${title(id)}"`,
        (d) => d.nodeLabels[id] ?? null,
      );
    },
    [edit, title],
  );

  // Thresholds go to the URL at once and to the investigation when the slider rests.
  const savedThresholds = useRef({ node: doc.thresholds.node, edge: doc.thresholds.edge });
  useEffect(() => {
    const { nodeThreshold: node, edgeThreshold: edge } = deferred;
    if (savedThresholds.current.node === node && savedThresholds.current.edge === edge) return;
    if ((url.nt === null && url.et === null) || !canWrite) return;
    const t = setTimeout(() => {
      savedThresholds.current = { node, edge };
      edit(() => ({ thresholds: { node, edge } }), 'thresholds');
    }, thresholdSaveDelayMs);
    return () => clearTimeout(t);
  }, [deferred, url.nt, url.et, edit, canWrite]);

  useGraphShortcuts(
    {
      next: () => select(stepIds(view, ranking, selected, 1)),
      previous: () => select(stepIds(view, ranking, selected, -1)),
      pin: () => {
        if (selectedId) setPinned(selectedId, !pins.includes(selectedId));
      },
      group: () => {
        if (pins.length > 0) setGroupOpen(true);
      },
      search: () => setSearchOpen(true),
      clear: (e) => {
        // The Escape that closes a dialog reaches this listener after the dialog is gone: it closed the dialog only.
        if (e.target instanceof Element && e.target.closest('[role="dialog"]')) return;
        if (searchOpen) setSearchOpen(false);
        else select(null);
      },
      help: () => setHelpOpen(true),
      // While a dialog is open its Escape closes it only, and a name typed into it does not walk the graph.
    },
    !groupOpen && !helpOpen && editing === null,
  );

  const featureKey = useMemo(() => {
    if (selected === null || view.kinds[selected] !== 'feature' || !doc.dictionaryId) return null;
    return featureKeyOf(view.ids[selected]);
  }, [selected, view, doc.dictionaryId]);
  const feature = useQuery(
    trpc.features.get.queryOptions(
      {
        teamId: team.id,
        dictionaryId: doc.dictionaryId ?? '',
        layer: featureKey?.layer ?? 0,
        featureIndex: featureKey?.featureIndex ?? 0,
      },
      { enabled: featureKey !== null },
    ),
  );

  const catalog = useQuery(trpc.catalog.list.queryOptions({ teamId: team.id }));
  const model = catalog.data?.models.find((m) => m.id === doc.modelId);
  const dictionary = model?.dictionaries.find((d) => d.id === doc.dictionaryId);

  return (
    <div className="inv">
      <InvestigationHeader title={doc.title} prompt={doc.prompt}>
        {team.readOnly ? <ReadOnlyBadge /> : null}
        {team.readOnly ? <CopyToTeam investigationId={doc.id} /> : null}
        {model ? (
          <span className="chip" title="Model">
            {model.name}
          </span>
        ) : null}
        {dictionary ? (
          <span className="chip" title="Dictionary">
            {dictionary.name} · {dictionary.kind.toUpperCase()}
          </span>
        ) : null}
        <span
          className="chip"
          title="Replacement score: share of the influence from tokens to logits that does not pass through error nodes (kept graph)"
        >
          replacement {percent(pruning.scores.replacement)}
        </span>
        <span
          className="chip"
          title="Completeness score: influence-weighted share of every node's input that does not come from error nodes (kept graph)"
        >
          completeness {percent(pruning.scores.completeness)}
        </span>
        <PresentNow investigationId={doc.id} selfId={me.data?.user?.id ?? null} />
        {canWrite ? <ShareButton investigationId={doc.id} /> : null}
      </InvestigationHeader>
      <div className="inv-main">
        <GraphCanvas
          view={view}
          pruning={pruning}
          selectedId={selectedId}
          pinnedIds={pins}
          highlightIds={highlight ?? undefined}
          labels={labels}
          badges={commentCounts}
          onSelect={select}
          camera={url.cam}
          onCameraChange={(cam) => void setUrl({ cam })}
        />
        <NodeSearch
          view={view}
          labels={labels}
          open={searchOpen}
          onOpenChange={setSearchOpen}
          onSelect={(id) => {
            select(id);
            setSearchOpen(false);
          }}
        />
      </div>
      <aside className="inv-side">
        {canWrite ? (
          <SuggestionsPanel
            state={firstPass}
            reviewed={doc.reviewedSuggestions}
            shown={(members) =>
              members.filter((id) => pruning.nodeMask[view.index.get(id) ?? -1] === 1).length
            }
            onAccept={(s) => review(s, s.label)}
            onEdit={setEditing}
            onDiscard={(s) => review(s, null)}
            onHighlight={setHighlight}
          />
        ) : null}
        <Tabs.Root value={tab} onValueChange={setTab} className="side-tabs">
          <Tabs.List aria-label="Side panel">
            <Tabs.Trigger value="graph">Node</Tabs.Trigger>
            <Tabs.Trigger value="comments">
              Comments{comments.data?.items.length ? ` (${comments.data.items.length})` : ''}
            </Tabs.Trigger>
            <Tabs.Trigger value="interventions">Interventions</Tabs.Trigger>
            <Tabs.Trigger value="history">History</Tabs.Trigger>
            <Tabs.Trigger value="notes">Notes</Tabs.Trigger>
          </Tabs.List>
          <Tabs.Content value="graph">
            <NodeDetails
              view={view}
              pruning={pruning}
              selectedId={selectedId}
              label={selectedId ? (labels.get(selectedId) ?? '') : ''}
              feature={
                feature.data
                  ? { teamLabel: feature.data.annotation?.label ?? null, autoLabel: feature.data.autoLabel }
                  : null
              }
              labels={labels}
              onSaveLabel={canWrite ? saveLabel : undefined}
              onSelect={select}
              qk={loupe.qk}
              inactive={inactive}
              featureHref={pageOf}
            />
            {selectedId && commentCounts.get(selectedId) ? (
              <div className="row small" style={{ padding: '0 10px 8px' }}>
                <span className="badge" title="Comments on this node">
                  {commentCounts.get(selectedId)}
                </span>
                <button type="button" onClick={() => setTab('comments')}>
                  Read the comments on this node
                </button>
              </div>
            ) : null}
            {featureKey && doc.dictionaryId ? (
              <FeatureView compact feature={{ dictionaryId: doc.dictionaryId, ...featureKey }} />
            ) : null}
            <PinnedNodes
              view={view}
              pinnedIds={pins}
              supernodes={supernodes}
              labels={labels}
              selectedId={selectedId}
              onSelect={select}
              onUnpin={canWrite ? (id) => setPinned(id, false) : undefined}
              onUngroup={canWrite ? ungroup : undefined}
            />
            <AttentionEdges view={view} qk={loupe.qk} problem={loupe.problem} onSelect={select} />
          </Tabs.Content>
          <Tabs.Content value="comments">
            <CommentsPanel
              teamId={team.id}
              investigationId={doc.id}
              selectedId={selectedId}
              title={title}
              canWrite={canWrite}
              onSelect={select}
            />
          </Tabs.Content>
          <Tabs.Content value="interventions">
            <InterventionLab doc={doc} view={view} selectedId={selectedId} pins={pins} />
          </Tabs.Content>
          <Tabs.Content value="history">
            <HistoryPanel
              teamId={team.id}
              investigationId={doc.id}
              version={doc.version}
              canWrite={canWrite}
            />
          </Tabs.Content>
          <Tabs.Content value="notes">
            <NotesPanel notes={doc.notes} />
          </Tabs.Content>
        </Tabs.Root>
      </aside>
      <footer className="inv-footer">
        <ThresholdControls
          {...thresholds}
          pruning={pruning}
          onChange={(t) => void setUrl({ nt: t.nodeThreshold, et: t.edgeThreshold })}
        />
        <span className="spacer" />
        <span className="small muted" role="status">
          {saving ? 'Saving…' : 'All changes saved'}
        </span>
        <button type="button" onClick={() => setHelpOpen(true)} title="Keyboard shortcuts">
          <kbd>?</kbd> Shortcuts
        </button>
      </footer>
      <ShortcutsHelp open={helpOpen} onOpenChange={setHelpOpen} />
      <GroupDialog count={pins.length} open={groupOpen} onOpenChange={setGroupOpen} onGroup={group} />
      <GroupDialog
        count={editing?.members.length ?? 0}
        title={`Group the ${editing?.members.length ?? 0} suggested features`}
        defaultName={editing?.label}
        open={editing !== null}
        onOpenChange={(open) => {
          if (!open) setEditing(null);
        }}
        onGroup={(name) => {
          if (editing) review(editing, name);
        }}
      />
    </div>
  );
}

function stepIds(view: GraphView, ranking: Int32Array, current: number | null, step: 1 | -1): string | null {
  const next = stepRanking(ranking, current, step);
  return next === null ? null : view.ids[next];
}
