/**
 * A data table's header row: one column per name, '' for the one unnamed column (a row's buttons), null for a
 * column this table leaves out. Names are unique within a table, so they key the cells.
 */
export function TableHead({ columns }: { columns: readonly (string | null)[] }) {
  return (
    <thead>
      <tr>{columns.flatMap((name) => (name === null ? [] : [<th key={name}>{name}</th>]))}</tr>
    </thead>
  );
}
