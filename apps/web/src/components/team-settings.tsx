'use client';

import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { type FormEvent, useState } from 'react';
import { useMe } from '@/lib/session';
import { useTRPC } from '@/trpc/client';
import { Ago, ErrorBox, Progress } from './status';
import { useTeam } from './team-shell';
import { ShownOnce, TokenPanel } from './tokens';
import { ActionCell, DataTable } from './data-table';
import { Panel } from './panel';

const roles = ['owner', 'editor', 'viewer'] as const;
type Role = (typeof roles)[number];

/** Members, roles and invites (owners manage them; others see the list) and the user's own API tokens. */
export function TeamSettings() {
  const team = useTeam();
  return (
    <div className="page">
      <h1>{team.name} · settings</h1>
      <Members />
      {team.role === 'owner' ? <Invites /> : null}
      <Tokens />
    </div>
  );
}

function Members() {
  const trpc = useTRPC();
  const team = useTeam();
  const me = useMe();
  const queryClient = useQueryClient();
  const members = useQuery(trpc.teams.members.queryOptions({ teamId: team.id }));
  const refresh = () => queryClient.invalidateQueries({ queryKey: trpc.teams.members.queryKey() });
  const setRole = useMutation(trpc.teams.setRole.mutationOptions({ onSettled: refresh }));
  const remove = useMutation(trpc.teams.removeMember.mutationOptions({ onSettled: refresh }));
  const owner = team.role === 'owner';
  const self = (m: { userId: string }) => m.userId === me.data?.user?.id;
  return (
    <Panel title="Members">
      {members.isPending ? <Progress label="Loading members" /> : null}
      {members.isError ? <ErrorBox error={members.error} retry={() => members.refetch()} /> : null}
      {setRole.error ? <ErrorBox error={setRole.error} /> : null}
      {remove.error ? <ErrorBox error={remove.error} /> : null}
      {members.data ? (
        <DataTable columns={['Name', 'Email', 'Role', '']}>
          {members.data.map((m) => (
            <tr key={m.userId}>
              <td>{m.name}</td>
              <td className="mono">{m.email}</td>
              <td>
                {owner ? (
                  <select
                    aria-label={`Role of ${m.name}`}
                    value={m.role}
                    disabled={setRole.isPending}
                    onChange={(e) =>
                      setRole.mutate({ teamId: team.id, userId: m.userId, role: e.target.value as Role })
                    }
                  >
                    {roles.map((r) => (
                      <option key={r} value={r}>
                        {r}
                      </option>
                    ))}
                  </select>
                ) : (
                  m.role
                )}
              </td>
              <ActionCell
                action={owner || self(m) ? (self(m) ? 'Leave' : 'Remove') : null}
                disabled={remove.isPending}
                onClick={() => {
                  if (window.confirm(self(m) ? 'Leave this team?' : `Remove ${m.name} from the team?`))
                    remove.mutate({ teamId: team.id, userId: m.userId });
                }}
              />
            </tr>
          ))}
        </DataTable>
      ) : null}
    </Panel>
  );
}

function Invites() {
  const trpc = useTRPC();
  const team = useTeam();
  const queryClient = useQueryClient();
  const [role, setRole] = useState<Role>('editor');
  const [link, setLink] = useState<string | null>(null);
  const invites = useQuery(trpc.teams.listInvites.queryOptions({ teamId: team.id }));
  const refresh = () => queryClient.invalidateQueries({ queryKey: trpc.teams.listInvites.queryKey() });
  const create = useMutation(
    trpc.teams.createInvite.mutationOptions({
      onSuccess: (r) => {
        // The token travels in the fragment, so it never reaches server logs or referrers.
        setLink(`${window.location.origin}/invite#${r.token}`);
        refresh();
      },
    }),
  );
  const revoke = useMutation(trpc.teams.revokeInvite.mutationOptions({ onSettled: refresh }));
  const submit = (e: FormEvent) => {
    e.preventDefault();
    create.mutate({ teamId: team.id, role, expiresInHours: 24 * 7 });
  };
  return (
    <Panel title="Invites">
      <form className="row" onSubmit={submit}>
        <label className="row">
          Role
          <select value={role} onChange={(e) => setRole(e.target.value as Role)}>
            {roles.map((r) => (
              <option key={r} value={r}>
                {r}
              </option>
            ))}
          </select>
        </label>
        <button type="submit" className="primary" disabled={create.isPending}>
          Create invite link
        </button>
        <span className="muted small">valid for 7 days, one use</span>
      </form>
      {create.error ? <ErrorBox error={create.error} /> : null}
      {link ? <ShownOnce value={link} label="Invite link" what="link" /> : null}
      {invites.isError ? <ErrorBox error={invites.error} retry={() => invites.refetch()} /> : null}
      {revoke.error ? <ErrorBox error={revoke.error} /> : null}
      {invites.data?.length ? (
        <DataTable columns={['Role', 'Created', 'Status', '']}>
          {invites.data.map((i) => {
            const expired = i.expiresAt && new Date(i.expiresAt).getTime() < Date.now();
            const status = i.usedAt ? 'used' : i.revokedAt ? 'revoked' : expired ? 'expired' : 'open';
            return (
              <tr key={i.id}>
                <td>{i.role}</td>
                <td>
                  <Ago at={i.createdAt} />
                </td>
                <td>{status}</td>
                <ActionCell
                  action={status === 'open' ? 'Revoke' : null}
                  onClick={() => revoke.mutate({ teamId: team.id, inviteId: i.id })}
                />
              </tr>
            );
          })}
        </DataTable>
      ) : null}
    </Panel>
  );
}

function Tokens() {
  const trpc = useTRPC();
  const tokens = useQuery(trpc.auth.listTokens.queryOptions());
  const create = useMutation(trpc.auth.createToken.mutationOptions());
  const revoke = useMutation(trpc.auth.revokeToken.mutationOptions());
  return (
    <TokenPanel
      title="Your API tokens"
      intro="For the CLI and scripts: a token acts as you, in every team you belong to."
      creator={{ nameLabel: 'Token name', button: 'Create token', secretLabel: 'New token', create }}
      list={tokens}
      rows={tokens.data}
      revoke={revoke}
    />
  );
}
