'use client';

import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import Link from 'next/link';
import { usePathname, useRouter } from 'next/navigation';
import { Dialog } from 'radix-ui';
import { createContext, type ReactNode, useContext, useEffect, useState } from 'react';
import { rememberTeam, useMe } from '@/lib/session';
import { useTRPC } from '@/trpc/client';
import { AuthForm } from './auth-form';
import { CreateTeamForm } from './create-team';
import { BrandCard, ErrorBox, Progress, queryPlaceholder } from './status';

export interface TeamInfo {
  id: string;
  name: string;
  role: 'owner' | 'editor' | 'viewer';
  version: number;
  /** The seeded Examples: every user reads it, nobody changes it. */
  readOnly: boolean;
}

const TeamContext = createContext<TeamInfo | null>(null);

/** The team whose pages are showing; only inside TeamShell. */
export function useTeam(): TeamInfo {
  const team = useContext(TeamContext);
  if (!team) throw new Error('useTeam outside a team page');
  return team;
}

/** The frame of every team page: the top bar (team switcher, navigation, account) above the page. */
export function TeamShell({ teamId, children }: { teamId: string; children: ReactNode }) {
  const trpc = useTRPC();
  const me = useMe();
  const signedIn = Boolean(me.data?.user);
  const team = useQuery(trpc.teams.get.queryOptions({ teamId }, { enabled: signedIn }));
  useEffect(() => {
    if (team.data) rememberTeam(team.data.id);
  }, [team.data]);

  const waiting = queryPlaceholder(me, 'Connecting to the API');
  if (waiting || !me.data) return <Frame>{waiting}</Frame>;
  if (!me.data.user)
    return (
      <BrandCard>
        <AuthForm />
      </BrandCard>
    );
  return (
    <div className="shell">
      <TopBar teamId={teamId} userName={me.data.user.name} />
      <div className="content">
        {team.isPending ? (
          <Frame>
            <Progress label="Loading the team" />
          </Frame>
        ) : team.isError ? (
          <Frame>
            <ErrorBox error={team.error} retry={() => team.refetch()} />
            <Link href="/">Back to your teams</Link>
          </Frame>
        ) : (
          <TeamContext.Provider value={team.data}>{children}</TeamContext.Provider>
        )}
      </div>
    </div>
  );
}

function Frame({ children }: { children: ReactNode }) {
  return <div className="page">{children}</div>;
}

function TopBar({ teamId, userName }: { teamId: string; userName: string }) {
  const trpc = useTRPC();
  const router = useRouter();
  const pathname = usePathname();
  const queryClient = useQueryClient();
  const teams = useQuery(trpc.teams.list.queryOptions());
  const [creating, setCreating] = useState(false);
  const signOut = useMutation(
    trpc.auth.signOut.mutationOptions({
      onSuccess: async () => {
        queryClient.clear();
        router.push('/');
      },
    }),
  );
  const base = `/t/${teamId}`;
  return (
    <header className="topbar">
      <Link href={base} className="brand">
        Loupe
      </Link>
      <select
        aria-label="Team"
        value={teamId}
        onChange={(e) => {
          if (e.target.value === '+') setCreating(true);
          else router.push(`/t/${e.target.value}`);
        }}
      >
        {teams.data?.map((t) => (
          <option key={t.id} value={t.id}>
            {t.readOnly ? `${t.name} (read-only)` : t.name}
          </option>
        )) ?? <option value={teamId}>…</option>}
        <option value="+">New team…</option>
      </select>
      <nav className="row" aria-label="Team">
        <Link href={base} aria-current={pathname === base ? 'page' : undefined}>
          Investigations
        </Link>
        <Link href={`${base}/settings`} aria-current={pathname === `${base}/settings` ? 'page' : undefined}>
          Settings
        </Link>
        <Link href={`${base}/account`} aria-current={pathname === `${base}/account` ? 'page' : undefined}>
          Account
        </Link>
      </nav>
      <span className="spacer" />
      <span className="muted">{userName}</span>
      <button type="button" onClick={() => signOut.mutate()} disabled={signOut.isPending}>
        Sign out
      </button>
      <Dialog.Root open={creating} onOpenChange={setCreating}>
        <Dialog.Portal>
          <Dialog.Overlay className="dialog-overlay" />
          <Dialog.Content className="dialog" aria-describedby={undefined}>
            <Dialog.Title>New team</Dialog.Title>
            <CreateTeamForm onDone={() => setCreating(false)} />
          </Dialog.Content>
        </Dialog.Portal>
      </Dialog.Root>
    </header>
  );
}
