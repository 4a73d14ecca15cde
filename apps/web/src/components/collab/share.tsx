'use client';

import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { Dialog } from 'radix-ui';
import { useId, useState } from 'react';
import { useTRPC } from '@/trpc/client';
import { DialogActions } from '../dialog-actions';
import { Ago, ErrorBox, Loaded } from '../status';

const expiries: { label: string; hours: number | null }[] = [
  { label: 'never', hours: null },
  { label: 'in 1 hour', hours: 1 },
  { label: 'in 1 day', hours: 24 },
  { label: 'in 7 days', hours: 24 * 7 },
  { label: 'in 30 days', hours: 24 * 30 },
];

/**
 * Button "Share" and its dialog: create a read-only link (optionally expiring), see the links made so far and
 * revoke them. The token travels in the URL fragment, so it never reaches a server log; it is shown once.
 */
export function ShareButton({ investigationId }: { investigationId: string }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const [open, setOpen] = useState(false);
  const [expiry, setExpiry] = useState('0');
  const [link, setLink] = useState<string | null>(null);
  const expiryId = useId();
  const linkId = useId();
  const links = useQuery(trpc.shares.list.queryOptions({ investigationId }, { enabled: open }));
  const refresh = () => queryClient.invalidateQueries({ queryKey: trpc.shares.list.queryKey() });
  const create = useMutation(
    trpc.shares.create.mutationOptions({
      onSuccess: (r) => setLink(`${window.location.origin}/share#${r.token}`),
      onSettled: refresh,
    }),
  );
  const revoke = useMutation(trpc.shares.revoke.mutationOptions({ onSettled: refresh }));
  const hours = expiries[Number(expiry)]?.hours ?? null;
  return (
    <Dialog.Root
      open={open}
      onOpenChange={(o) => {
        setOpen(o);
        if (!o) setLink(null);
      }}
    >
      <Dialog.Trigger asChild>
        <button type="button">Share</button>
      </Dialog.Trigger>
      <Dialog.Portal>
        <Dialog.Overlay className="dialog-overlay" />
        <Dialog.Content className="dialog" style={{ width: 'min(520px, calc(100vw - 24px))' }}>
          <Dialog.Title>Share a read-only link</Dialog.Title>
          <Dialog.Description className="muted small">
            Anyone with the link sees the graph, labels, comments and experiments without signing in, and can
            change nothing. Revoke it to close it again.
          </Dialog.Description>
          <div className="row">
            <label htmlFor={expiryId}>Expires</label>
            <select id={expiryId} value={expiry} onChange={(e) => setExpiry(e.target.value)}>
              {expiries.map((x, i) => (
                <option key={x.label} value={i}>
                  {x.label}
                </option>
              ))}
            </select>
            <span className="spacer" />
            <button
              type="button"
              className="primary"
              disabled={create.isPending}
              onClick={() => create.mutate({ investigationId, ...(hours ? { expiresInHours: hours } : {}) })}
            >
              Create link
            </button>
          </div>
          {create.error ? <ErrorBox error={create.error} /> : null}
          {link ? (
            <div className="stack" style={{ gap: 4 }}>
              <label htmlFor={linkId} className="small">
                Share link <span className="muted">(shown once: copy it now)</span>
              </label>
              <div className="row">
                <input
                  id={linkId}
                  className="spacer mono"
                  readOnly
                  value={link}
                  onFocus={(e) => e.target.select()}
                />
                <button type="button" onClick={() => void navigator.clipboard?.writeText(link)}>
                  Copy
                </button>
              </div>
            </div>
          ) : null}
          <h3>Links</h3>
          <Loaded query={links} label="Loading the links">
            {(page) =>
              page.items.length === 0 ? (
                <p className="muted small">No links yet.</p>
              ) : (
                <ul className="plain" aria-label="Share links">
                  {page.items.map((l) => {
                    const expired = l.expiresAt !== null && new Date(l.expiresAt).getTime() <= Date.now();
                    return (
                      <li key={l.id} className="row small">
                        <span className="spacer">
                          created <Ago at={l.createdAt} /> ·{' '}
                          {l.revokedAt ? (
                            <span className="muted">revoked</span>
                          ) : expired ? (
                            <span className="muted">expired</span>
                          ) : l.expiresAt ? (
                            <>expires {new Date(l.expiresAt).toLocaleString()}</>
                          ) : (
                            'never expires'
                          )}
                        </span>
                        {l.revokedAt || expired ? null : (
                          <button
                            type="button"
                            disabled={revoke.isPending}
                            onClick={() => revoke.mutate({ id: l.id })}
                          >
                            Revoke
                          </button>
                        )}
                      </li>
                    );
                  })}
                </ul>
              )
            }
          </Loaded>
          {revoke.error ? <ErrorBox error={revoke.error} /> : null}
          <DialogActions close="Close" />
        </Dialog.Content>
      </Dialog.Portal>
    </Dialog.Root>
  );
}
