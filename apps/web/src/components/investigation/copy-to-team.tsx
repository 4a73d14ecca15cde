'use client';

import { useMutation, useQuery } from '@tanstack/react-query';
import { useRouter } from 'next/navigation';
import { useState } from 'react';
import { useTRPC } from '@/trpc/client';
import { ErrorBox } from '../status';

/** Copies a read-only example into one of the caller's teams (traced again there) and opens the copy. */
export function CopyToTeam({ investigationId }: { investigationId: string }) {
  const trpc = useTRPC();
  const router = useRouter();
  const teams = useQuery(trpc.teams.list.queryOptions());
  const writable = (teams.data ?? []).filter((t) => !t.readOnly && t.role !== 'viewer');
  const [chosen, setChosen] = useState('');
  const teamId = chosen || writable[0]?.id || '';
  const copy = useMutation(
    trpc.investigations.copy.mutationOptions({
      onSuccess: (r) => router.push(`/t/${r.investigation.teamId}/i/${r.investigation.id}`),
    }),
  );
  if (writable.length === 0) return null;
  return (
    <span className="row">
      {writable.length > 1 ? (
        <select aria-label="Copy to team" value={teamId} onChange={(e) => setChosen(e.target.value)}>
          {writable.map((t) => (
            <option key={t.id} value={t.id}>
              {t.name}
            </option>
          ))}
        </select>
      ) : null}
      <button
        type="button"
        title={`A copy in ${writable.find((t) => t.id === teamId)?.name ?? 'your team'}, traced again there`}
        disabled={copy.isPending}
        onClick={() => copy.mutate({ id: investigationId, teamId })}
      >
        Copy to my team
      </button>
      {copy.isError ? <ErrorBox error={copy.error} /> : null}
    </span>
  );
}
