import type { ReactNode } from 'react';

/**
 * A data table: its header row (one column per name, '' for the one unnamed column of a row's buttons, null for
 * a column this table leaves out; names are unique within a table, so they key the cells) above its rows.
 */
export function DataTable({
  columns,
  className = 'data',
  label,
  children,
}: {
  columns: readonly (string | null)[];
  className?: string;
  label?: string;
  children: ReactNode;
}) {
  return (
    <table className={className} aria-label={label}>
      <thead>
        <tr>{columns.flatMap((name) => (name === null ? [] : [<th key={name}>{name}</th>]))}</tr>
      </thead>
      <tbody>{children}</tbody>
    </table>
  );
}

/** A row's last cell: its one destructive action (revoke, remove), or nothing where the row offers none. */
export function ActionCell({
  action,
  disabled = false,
  onClick,
}: {
  /** The button's text; null: no button in this row. */
  action: string | null;
  disabled?: boolean;
  onClick: () => void;
}) {
  return (
    <td>
      {action === null ? null : (
        <button type="button" className="danger" disabled={disabled} onClick={onClick}>
          {action}
        </button>
      )}
    </td>
  );
}
