'use client';

import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useRouter } from 'next/navigation';
import { useEffect, useState } from 'react';
import { AuthForm } from '@/components/auth-form';
import { ErrorBox, Progress } from '@/components/status';
import { rememberTeam, useMe } from '@/lib/session';
import { useTRPC } from '@/trpc/client';

/** An invite link, /invite#<token>: sign in or up if needed, then join the team and open it. */
export function AcceptInvite() {
  const trpc = useTRPC();
  const router = useRouter();
  const queryClient = useQueryClient();
  const me = useMe();
  const [token, setToken] = useState<string | null>(null);
  useEffect(() => setToken(window.location.hash.slice(1)), []);
  const accept = useMutation(
    trpc.teams.acceptInvite.mutationOptions({
      onSuccess: async (r) => {
        rememberTeam(r.teamId);
        await queryClient.invalidateQueries({ queryKey: trpc.teams.list.queryKey() });
        router.replace(`/t/${r.teamId}`);
      },
    }),
  );
  return (
    <main className="center">
      <div className="card">
        <h1 className="brand">Loupe</h1>
        <h2>Join a team</h2>
        {token === '' ? (
          <div role="alert" className="error">
            This invite link has no token. Ask the team owner for a new link.
          </div>
        ) : me.isPending || token === null ? (
          <Progress label="Checking your session" />
        ) : me.isError ? (
          <ErrorBox error={me.error} retry={() => me.refetch()} />
        ) : !me.data.user ? (
          <>
            <p className="muted small">
              Sign in to accept the invite, or sign up: the new account joins the team at once.
            </p>
            <AuthForm initial="signup" inviteToken={token} onSignedUp={() => router.replace('/')} />
          </>
        ) : (
          <>
            <p>
              Signed in as <strong>{me.data.user.email}</strong>.
            </p>
            {accept.error ? <ErrorBox error={accept.error} /> : null}
            <button
              type="button"
              className="primary"
              disabled={accept.isPending || accept.isSuccess}
              onClick={() => accept.mutate({ token })}
            >
              Accept invite
            </button>
          </>
        )}
      </div>
    </main>
  );
}
