'use client';

import { importGraphJson } from '@loupe/core';
import { useMutation } from '@tanstack/react-query';
import { useRouter } from 'next/navigation';
import { type DragEvent, useRef, useState } from 'react';
import { useTRPC } from '@/trpc/client';
import { ErrorBox, Progress } from './status';
import { useTeam } from './team-shell';

/**
 * Opens a circuit-tracer / Neuronpedia graph JSON file (picker or drop) as a new investigation. The file is
 * checked in the browser with core's importer first, so a bad file names its problem before any upload.
 */
export function OpenGraph() {
  const trpc = useTRPC();
  const team = useTeam();
  const router = useRouter();
  const input = useRef<HTMLInputElement>(null);
  const [over, setOver] = useState(false);
  const [problem, setProblem] = useState<unknown>(null);
  const createGraph = useMutation(trpc.graphs.create.mutationOptions());
  const createInvestigation = useMutation(trpc.investigations.create.mutationOptions());
  const [busy, setBusy] = useState<string | null>(null);

  const open = async (file: File) => {
    setProblem(null);
    setBusy(`Reading ${file.name}`);
    try {
      const graph = importGraphJson(await file.text());
      setBusy(
        `Uploading ${graph.nodes.length.toLocaleString()} nodes, ${graph.links.length.toLocaleString()} links`,
      );
      const prompt = graph.metadata.prompt;
      const g = await createGraph.mutateAsync({
        teamId: team.id,
        prompt,
        slug: graph.metadata.slug,
        graph: graph as Parameters<typeof createGraph.mutateAsync>[0]['graph'],
      });
      const title = graph.metadata.slug || file.name.replace(/\.json$/i, '');
      const inv = await createInvestigation.mutateAsync({ teamId: team.id, title, prompt, graphId: g.id });
      router.push(`/t/${team.id}/i/${inv.id}`);
    } catch (err) {
      setProblem(err);
      setBusy(null);
    }
  };

  const drop = (e: DragEvent) => {
    e.preventDefault();
    setOver(false);
    const file = e.dataTransfer.files[0];
    if (file) void open(file);
  };

  return (
    <div className="stack">
      <div
        className={`dropzone${over ? ' over' : ''}`}
        onDragOver={(e) => {
          e.preventDefault();
          setOver(true);
        }}
        onDragLeave={() => setOver(false)}
        onDrop={drop}
      >
        <span>Drop a circuit-tracer or Neuronpedia graph JSON here, or </span>
        <button
          type="button"
          className="link"
          onClick={() => input.current?.click()}
          disabled={busy !== null}
        >
          Open graph JSON
        </button>
        <input
          ref={input}
          type="file"
          accept=".json,application/json"
          hidden
          aria-label="Graph JSON file"
          onChange={(e) => {
            const file = e.target.files?.[0];
            e.target.value = '';
            if (file) void open(file);
          }}
        />
      </div>
      {busy ? <Progress label={busy} /> : null}
      {problem ? <ErrorBox error={problem} /> : null}
    </div>
  );
}
