'use client';

import { type FormEvent, type ReactNode, useState } from 'react';
import { ActionCell, DataTable } from './data-table';
import { Panel } from './panel';
import { Ago, ErrorBox, Progress } from './status';

export interface TokenRow {
  id: string;
  name: string;
  createdAt: Date | string;
  lastUsedAt: Date | string | null;
  /** Job kinds a worker token may claim; null: every kind. Absent for user tokens. */
  kinds?: string[] | null;
}

/** A secret the server shows once (a new token, an invite link), ready to copy. */
export function ShownOnce({ value, label, what }: { value: string; label: string; what: string }) {
  return (
    <div className="notice stack">
      <span>Copy this {what} now; it is shown only once.</span>
      <div className="row">
        <input readOnly value={value} aria-label={label} className="spacer mono" />
        <button type="button" onClick={() => navigator.clipboard?.writeText(value)}>
          Copy
        </button>
      </div>
    </div>
  );
}

interface TokenCreatorProps {
  nameLabel: string;
  button: string;
  secretLabel: string;
  /** The create mutation: its state, and what it is called with; it answers with the new token's secret. */
  create: {
    isPending: boolean;
    error: unknown;
    mutate: (input: { name: string }, options: { onSuccess: (r: { token: string }) => void }) => void;
  };
}

/**
 * The form that names and creates a token, then shows its secret once and calls `onCreated`. `nameLabel` names
 * the name field (its placeholder is the same words in lower case).
 */
function TokenCreator({
  nameLabel,
  button,
  secretLabel,
  create,
  onCreated,
}: TokenCreatorProps & { onCreated: () => void }) {
  const [secret, setSecret] = useState<string | null>(null);
  const submit = (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    create.mutate(
      { name: String(new FormData(e.currentTarget).get('name') ?? '') },
      {
        onSuccess: (r) => {
          setSecret(r.token);
          onCreated();
        },
      },
    );
    e.currentTarget.reset();
  };
  return (
    <>
      <form className="row" onSubmit={submit}>
        <input
          name="name"
          aria-label={nameLabel}
          placeholder={nameLabel.toLowerCase()}
          required
          maxLength={100}
        />
        <button type="submit" disabled={create.isPending}>
          {button}
        </button>
      </form>
      {create.error ? <ErrorBox error={create.error} /> : null}
      {secret ? <ShownOnce value={secret} label={secretLabel} what="token" /> : null}
    </>
  );
}

/** API tokens with when they were made and last used, each with a Revoke button. */
function TokenTable({
  tokens,
  onRevoke,
  label,
}: {
  tokens: readonly TokenRow[];
  onRevoke: (id: string) => void;
  label: string;
}) {
  const kinds = tokens.some((t) => t.kinds !== undefined);
  return (
    <DataTable columns={['Name', kinds ? 'Job kinds' : null, 'Created', 'Last used', '']} label={label}>
      {tokens.map((t) => (
        <tr key={t.id}>
          <td>{t.name}</td>
          {kinds ? <td className="small">{t.kinds ? t.kinds.join(', ') : 'all'}</td> : null}
          <td>
            <Ago at={t.createdAt} />
          </td>
          <td>{t.lastUsedAt ? <Ago at={t.lastUsedAt} /> : 'never'}</td>
          <ActionCell action="Revoke" onClick={() => onRevoke(t.id)} />
        </tr>
      ))}
    </DataTable>
  );
}

/**
 * A panel of tokens: what they are for, the form that creates one, and the table of them with Revoke; the list
 * is fetched again after each create or revoke. `rows` is undefined until the list has loaded; `empty` is said
 * when the list is empty.
 */
export function TokenPanel({
  title,
  intro,
  creator,
  list,
  rows,
  revoke,
  empty,
}: {
  title: string;
  intro: ReactNode;
  creator: TokenCreatorProps;
  /** The list query's state. */
  list: { isPending: boolean; isError: boolean; error: unknown; refetch: () => unknown };
  rows: readonly TokenRow[] | undefined;
  /** The revoke mutation: its error, and what it is called with. */
  revoke: { error: unknown; mutate: (input: { id: string }, options: { onSettled: () => void }) => void };
  empty?: string;
}) {
  return (
    <Panel title={title}>
      <p className="muted small">{intro}</p>
      <TokenCreator {...creator} onCreated={() => list.refetch()} />
      {list.isPending ? <Progress label={`Loading ${title[0].toLowerCase()}${title.slice(1)}`} /> : null}
      {list.isError ? <ErrorBox error={list.error} retry={() => list.refetch()} /> : null}
      {revoke.error ? <ErrorBox error={revoke.error} /> : null}
      {rows?.length ? (
        <TokenTable
          tokens={rows}
          onRevoke={(id) => revoke.mutate({ id }, { onSettled: () => list.refetch() })}
          label={title}
        />
      ) : rows && empty ? (
        <p className="muted small">{empty}</p>
      ) : null}
    </Panel>
  );
}
