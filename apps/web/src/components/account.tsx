'use client';

import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useRouter } from 'next/navigation';
import { type FormEvent, useId } from 'react';
import { useMe } from '@/lib/session';
import { useTRPC } from '@/trpc/client';
import { ErrorBox } from './status';
import { TokenPanel } from './tokens';
import { Panel } from './panel';

/** The signed-in person's password and sessions; for instance admins, the worker tokens too. */
export function AccountSettings() {
  const me = useMe();
  return (
    <div className="page">
      <h1>Account · {me.data?.user?.email}</h1>
      <Password />
      <Sessions />
      {me.data?.user?.isAdmin ? <WorkerTokens /> : null}
    </div>
  );
}

function Password() {
  const trpc = useTRPC();
  const hintId = useId();
  const change = useMutation(trpc.auth.changePassword.mutationOptions());
  const submit = (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const form = e.currentTarget;
    const f = new FormData(form);
    change.mutate(
      { currentPassword: String(f.get('current') ?? ''), newPassword: String(f.get('new') ?? '') },
      { onSuccess: () => form.reset() },
    );
  };
  return (
    <section className="panel" aria-labelledby="password-h">
      <header id="password-h">Password</header>
      <form className="body stack" onSubmit={submit} style={{ maxWidth: 360 }}>
        <label className="field">
          Current password
          <input name="current" type="password" autoComplete="current-password" required maxLength={200} />
        </label>
        <label className="field">
          New password
          <input
            name="new"
            type="password"
            autoComplete="new-password"
            required
            minLength={8}
            maxLength={200}
            aria-describedby={hintId}
          />
        </label>
        <span id={hintId} className="small muted">
          at least 8 characters; every other session is signed out
        </span>
        {change.error ? <ErrorBox error={change.error} /> : null}
        {change.isSuccess ? (
          <div role="status" className="notice">
            Password changed. Your other sessions were signed out; this one stays.
          </div>
        ) : null}
        <button type="submit" className="primary" disabled={change.isPending}>
          Change password
        </button>
      </form>
    </section>
  );
}

function Sessions() {
  const trpc = useTRPC();
  const router = useRouter();
  const queryClient = useQueryClient();
  const everywhere = useMutation(
    trpc.auth.signOutEverywhere.mutationOptions({
      onSuccess: () => {
        queryClient.clear();
        router.push('/');
      },
    }),
  );
  return (
    <Panel title="Sessions">
      <p className="small muted">
        Ends your session on every device and browser, this one included. API tokens keep working; revoke them
        in a team's settings.
      </p>
      {everywhere.error ? <ErrorBox error={everywhere.error} /> : null}
      <div>
        <button
          type="button"
          className="danger"
          disabled={everywhere.isPending}
          onClick={() => everywhere.mutate()}
        >
          Sign out everywhere
        </button>
      </div>
    </Panel>
  );
}

/** The tokens that let workers claim every team's jobs: made and revoked by instance admins only. */
function WorkerTokens() {
  const trpc = useTRPC();
  const tokens = useQuery(trpc.admin.workerTokens.queryOptions());
  const create = useMutation(trpc.admin.createWorkerToken.mutationOptions());
  const revoke = useMutation(trpc.admin.revokeWorkerToken.mutationOptions());
  return (
    <TokenPanel
      title="Worker tokens"
      intro="A worker token claims jobs of every team: give one to each worker you run (as its LOUPE_API_TOKEN), and revoke it when the worker goes."
      creator={{
        nameLabel: 'Worker name',
        button: 'Create worker token',
        secretLabel: 'New worker token',
        create,
      }}
      list={tokens}
      rows={tokens.data?.items}
      revoke={revoke}
      empty="No worker tokens."
    />
  );
}
