'use client';

import { type FormEvent, useState } from 'react';
import { Ago, ErrorBox } from './status';
import { ActionCell, DataTable } from './data-table';

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

/**
 * The form that names and creates a token, then shows its secret once. `nameLabel` names the name field (its
 * placeholder is the same words in lower case).
 */
export function TokenCreator({
  nameLabel,
  button,
  secretLabel,
  create,
}: {
  nameLabel: string;
  button: string;
  secretLabel: string;
  /** The create mutation: its state, and what it is called with; it answers with the new token's secret. */
  create: {
    isPending: boolean;
    error: unknown;
    mutate: (input: { name: string }, options: { onSuccess: (r: { token: string }) => void }) => void;
  };
}) {
  const [secret, setSecret] = useState<string | null>(null);
  const submit = (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    create.mutate(
      { name: String(new FormData(e.currentTarget).get('name') ?? '') },
      { onSuccess: (r) => setSecret(r.token) },
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
export function TokenTable({
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
