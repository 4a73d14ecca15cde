'use client';

import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useRouter } from 'next/navigation';
import { type FormEvent, useId } from 'react';
import { rememberTeam } from '@/lib/session';
import { useTRPC } from '@/trpc/client';
import { ErrorBox } from './status';

/** Creates a team (the caller becomes its owner) and opens it. */
export function CreateTeamForm({ onDone }: { onDone?: () => void }) {
  const trpc = useTRPC();
  const router = useRouter();
  const queryClient = useQueryClient();
  const nameId = useId();
  const create = useMutation(
    trpc.teams.create.mutationOptions({
      onSuccess: async (team) => {
        rememberTeam(team.id);
        onDone?.();
        await queryClient.invalidateQueries({ queryKey: trpc.teams.list.queryKey() });
        router.push(`/t/${team.id}`);
      },
    }),
  );
  const submit = (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    create.mutate({ name: String(new FormData(e.currentTarget).get('team') ?? '') });
  };
  return (
    <form className="stack" onSubmit={submit}>
      <label className="field" htmlFor={nameId}>
        Team name
      </label>
      <div className="row">
        <input id={nameId} name="team" required maxLength={100} className="spacer" />
        <button type="submit" className="primary" disabled={create.isPending}>
          Create team
        </button>
      </div>
      {create.error ? <ErrorBox error={create.error} /> : null}
    </form>
  );
}
