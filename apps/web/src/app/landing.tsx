'use client';

import { useQuery } from '@tanstack/react-query';
import Link from 'next/link';
import { useRouter } from 'next/navigation';
import { useEffect } from 'react';
import { AuthForm } from '@/components/auth-form';
import { CreateTeamForm } from '@/components/create-team';
import { BrandCard, ErrorBox, Progress, queryPlaceholder } from '@/components/status';
import { lastTeam, useMe } from '@/lib/session';
import { useTRPC } from '@/trpc/client';

/** Signed out: sign in or sign up. Signed in: straight to the last team used, or a form to create the first. */
export function Landing() {
  const me = useMe();
  const waiting = queryPlaceholder(me, 'Connecting to the API');
  if (waiting || !me.data) return <BrandCard>{waiting}</BrandCard>;
  if (!me.data.user)
    return (
      <BrandCard>
        <p className="muted">
          An AI microscope for language models: trace attribution graphs, label features, share what you find.
        </p>
        <AuthForm />
      </BrandCard>
    );
  return <TeamPicker />;
}

function TeamPicker() {
  const trpc = useTRPC();
  const router = useRouter();
  const teams = useQuery(trpc.teams.list.queryOptions());
  // A first visit creates a team of one's own; the read-only Examples are offered beside that, not instead.
  const own = teams.data?.filter((t) => !t.readOnly) ?? [];
  const examples = teams.data?.find((t) => t.readOnly);
  const target = teams.data?.find((t) => t.id === lastTeam())?.id ?? own[0]?.id ?? null;
  useEffect(() => {
    if (target) router.replace(`/t/${target}`);
  }, [target, router]);
  if (teams.isError)
    return (
      <BrandCard>
        <ErrorBox error={teams.error} retry={() => teams.refetch()} />
      </BrandCard>
    );
  if (teams.isPending || target)
    return (
      <BrandCard>
        <Progress label="Opening your team" />
      </BrandCard>
    );
  return (
    <BrandCard>
      <h2>Create your first team</h2>
      <p className="muted small">
        Investigations, labels and graphs belong to a team. Invite others from its settings later.
      </p>
      <CreateTeamForm />
      {examples ? (
        <p className="small">
          Or first look around: <Link href={`/t/${examples.id}`}>open the read-only examples</Link>, the case
          studies rebuilt on the shipped organisms.
        </p>
      ) : null}
    </BrandCard>
  );
}
