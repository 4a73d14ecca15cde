'use client';

import { Ago } from './status';
import { TableHead } from './table-head';

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
    <table className="data" aria-label={label}>
      <TableHead columns={['Name', kinds ? 'Job kinds' : null, 'Created', 'Last used', '']} />
      <tbody>
        {tokens.map((t) => (
          <tr key={t.id}>
            <td>{t.name}</td>
            {kinds ? <td className="small">{t.kinds ? t.kinds.join(', ') : 'all'}</td> : null}
            <td>
              <Ago at={t.createdAt} />
            </td>
            <td>{t.lastUsedAt ? <Ago at={t.lastUsedAt} /> : 'never'}</td>
            <td>
              <button type="button" className="danger" onClick={() => onRevoke(t.id)}>
                Revoke
              </button>
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
