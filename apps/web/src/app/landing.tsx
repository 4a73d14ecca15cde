'use client';

import { useQuery } from '@tanstack/react-query';
import { useRouter } from 'next/navigation';
import { type ReactNode, useEffect } from 'react';
import { AuthForm } from '@/components/auth-form';
import { CreateTeamForm } from '@/components/create-team';
import { ErrorBox, Progress } from '@/components/status';
import { lastTeam, useMe } from '@/lib/session';
import { useTRPC } from '@/trpc/client';

/** Signed out: sign in or sign up. Signed in: straight to the last team used, or a form to create the first. */
export function Landing() {
  const me = useMe();
  if (me.isPending)
    return (
      <Centered>
        <Progress label="Connecting to the API" />
      </Centered>
    );
  if (me.isError)
    return (
      <Centered>
        <ErrorBox error={me.error} retry={() => me.refetch()} />
      </Centered>
    );
  if (!me.data.user)
    return (
      <Centered>
        <p className="muted">
          An AI microscope for language models: trace attribution graphs, label features, share what you find.
        </p>
        <AuthForm />
      </Centered>
    );
  return <TeamPicker />;
}

function TeamPicker() {
  const trpc = useTRPC();
  const router = useRouter();
  const teams = useQuery(trpc.teams.list.queryOptions());
  const target = teams.data?.length
    ? (teams.data.find((t) => t.id === lastTeam()) ?? teams.data[0]).id
    : null;
  useEffect(() => {
    if (target) router.replace(`/t/${target}`);
  }, [target, router]);
  if (teams.isError)
    return (
      <Centered>
        <ErrorBox error={teams.error} retry={() => teams.refetch()} />
      </Centered>
    );
  if (teams.isPending || target)
    return (
      <Centered>
        <Progress label="Opening your team" />
      </Centered>
    );
  return (
    <Centered>
      <h2>Create your first team</h2>
      <p className="muted small">
        Investigations, labels and graphs belong to a team. Invite others from its settings later.
      </p>
      <CreateTeamForm />
    </Centered>
  );
}

function Centered({ children }: { children: ReactNode }) {
  return (
    <main className="center">
      <div className="card">
        <h1 className="brand">Loupe</h1>
        {children}
      </div>
    </main>
  );
}
