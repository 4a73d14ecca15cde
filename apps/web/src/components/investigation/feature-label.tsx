'use client';

import { useMutation, useQueryClient } from '@tanstack/react-query';
import { type FormEvent, useEffect, useId, useRef, useState } from 'react';
import { errorCode } from '@/lib/errors';
import { useTRPC } from '@/trpc/client';
import { ErrorBox } from '../status';

export interface FeatureAnnotation {
  label: string;
  version: number;
}

/**
 * The team-shared label of the selected node's dictionary feature (features.annotate): every investigation on
 * this dictionary shows it. A save that raced someone else's reloads theirs and says so.
 */
export function FeatureLabelForm({
  teamId,
  dictionaryId,
  layer,
  featureIndex,
  annotation,
}: {
  teamId: string;
  dictionaryId: string;
  layer: number;
  featureIndex: number;
  annotation: FeatureAnnotation | null;
}) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const id = useId();
  const saved = annotation?.label ?? '';
  const [text, setText] = useState(saved);
  const [conflict, setConflict] = useState(false);
  // A label saved elsewhere replaces the text only while nothing unsaved is typed, so a conflict loses nothing.
  const shown = useRef(saved);
  useEffect(() => {
    setText((t) => (t === shown.current ? saved : t));
    shown.current = saved;
  }, [saved]);
  const annotate = useMutation(
    trpc.features.annotate.mutationOptions({
      onError: (err) => setConflict(errorCode(err) === 'CONFLICT'),
      onSuccess: () => setConflict(false),
      onSettled: () =>
        Promise.all([
          queryClient.invalidateQueries({ queryKey: trpc.features.get.queryKey() }),
          queryClient.invalidateQueries({ queryKey: trpc.teams.history.queryKey() }),
          queryClient.invalidateQueries({ queryKey: trpc.features.search.queryKey() }),
        ]),
    }),
  );
  const submit = (e: FormEvent) => {
    e.preventDefault();
    annotate.mutate({
      teamId,
      dictionaryId,
      layer,
      featureIndex,
      label: text.trim(),
      version: annotation?.version ?? 0,
    });
  };
  return (
    <form className="stack" style={{ gap: 4 }} onSubmit={submit}>
      <div className="row small">
        <label htmlFor={id}>Feature label</label>
        <span className="muted">shared with the team, in every investigation</span>
      </div>
      <div className="row">
        <input
          id={id}
          className="spacer"
          value={text}
          maxLength={500}
          onChange={(e) => setText(e.target.value)}
          placeholder="what this feature detects"
        />
        <button type="submit" disabled={annotate.isPending || text.trim() === saved}>
          Save
        </button>
      </div>
      {conflict ? (
        <div role="alert" className="error">
          Someone else labelled this feature meanwhile; their label is loaded. Save again to replace it.
        </div>
      ) : annotate.error ? (
        <ErrorBox error={annotate.error} />
      ) : null}
    </form>
  );
}
