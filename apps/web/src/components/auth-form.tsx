'use client';

import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { Tabs } from 'radix-ui';
import { type FormEvent, useId, useState } from 'react';
import { useTRPC } from '@/trpc/client';
import { ErrorBox } from './status';

/** The token of an invite, from the token itself or the whole invite link (/invite#<token>). */
export function inviteTokenOf(text: string): string {
  const t = text.trim();
  return t.includes('#') ? t.slice(t.lastIndexOf('#') + 1) : t;
}

/**
 * Sign in and sign up, side by side as tabs; on success the session cookie is set and `auth.me` refetched.
 * An invite link passes its token, which sign-up redeems (joining the team) and `onSignedUp` follows. Without
 * one, a server that signs up by invitation only asks for the invite here.
 */
export function AuthForm({
  initial = 'signin',
  inviteToken,
  onSignedUp,
}: {
  initial?: 'signin' | 'signup';
  inviteToken?: string;
  onSignedUp?: () => void;
}) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const [tab, setTab] = useState(initial);
  const hintId = useId();
  const inviteHintId = useId();
  const settings = useQuery(trpc.system.settings.queryOptions());
  const askInvite = inviteToken === undefined && settings.data?.signup === 'invite';
  const done = () => queryClient.invalidateQueries();
  const signIn = useMutation(trpc.auth.signIn.mutationOptions({ onSuccess: done }));
  const signUp = useMutation(
    trpc.auth.signUp.mutationOptions({
      onSuccess: async () => {
        await done();
        onSignedUp?.();
      },
    }),
  );

  const submit = (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const f = new FormData(e.currentTarget);
    const email = String(f.get('email') ?? '');
    const password = String(f.get('password') ?? '');
    const invite = inviteToken ?? inviteTokenOf(String(f.get('invite') ?? ''));
    if (tab === 'signup')
      signUp.mutate({
        email,
        password,
        name: String(f.get('name') ?? ''),
        ...(invite ? { inviteToken: invite } : {}),
      });
    else signIn.mutate({ email, password });
  };
  const pending = signIn.isPending || signUp.isPending;
  const error = tab === 'signup' ? signUp.error : signIn.error;

  return (
    <Tabs.Root value={tab} onValueChange={(v) => setTab(v as 'signin' | 'signup')} className="stack">
      <Tabs.List className="tabs-list" aria-label="Account">
        <Tabs.Trigger value="signin">Sign in</Tabs.Trigger>
        <Tabs.Trigger value="signup">Sign up</Tabs.Trigger>
      </Tabs.List>
      <form className="stack" onSubmit={submit}>
        {tab === 'signup' ? (
          <label className="field">
            Name
            <input name="name" autoComplete="name" required maxLength={100} />
          </label>
        ) : null}
        <label className="field">
          Email
          <input name="email" type="email" autoComplete="email" required maxLength={320} />
        </label>
        <label className="field">
          Password
          <input
            name="password"
            type="password"
            autoComplete={tab === 'signup' ? 'new-password' : 'current-password'}
            required
            minLength={tab === 'signup' ? 8 : 1}
            maxLength={200}
            aria-describedby={tab === 'signup' ? hintId : undefined}
          />
        </label>
        {tab === 'signup' ? (
          <span id={hintId} className="small muted">
            at least 8 characters
          </span>
        ) : null}
        {tab === 'signup' && askInvite ? (
          <>
            <label className="field">
              Invite token
              <input name="invite" autoComplete="off" maxLength={2000} aria-describedby={inviteHintId} />
            </label>
            <span id={inviteHintId} className="small muted">
              This server signs up by invitation: paste the invite link a team owner sent you (or its token).
            </span>
          </>
        ) : null}
        {error ? <ErrorBox error={error} /> : null}
        <button type="submit" className="primary" disabled={pending}>
          {tab === 'signup' ? 'Sign up' : 'Sign in'}
        </button>
      </form>
    </Tabs.Root>
  );
}
