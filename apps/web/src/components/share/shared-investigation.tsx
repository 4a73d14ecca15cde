'use client';

import type { AppRouter } from '@loupe/api';
import { useQuery } from '@tanstack/react-query';
import { createTRPCClient, httpBatchLink } from '@trpc/client';
import dynamic from 'next/dynamic';
import { useEffect, useState } from 'react';
import { errorCode } from '@/lib/errors';
import { ErrorBox, Progress } from '../status';
import { maxBatchCalls } from '@loupe/api/limits';

// Share tokens go in POST bodies (method override), never in a URL a server or proxy would log.
const shareClient = createTRPCClient<AppRouter>({
  links: [httpBatchLink({ url: '/api/trpc', methodOverride: 'POST', maxItems: maxBatchCalls })],
});
export type ShareClient = typeof shareClient;

// The viewer draws with WebGL, so it loads in the browser only.
const SharedViewer = dynamic(() => import('./shared-viewer').then((m) => m.SharedViewer), {
  ssr: false,
  loading: () => <Progress label="Loading the graph viewer" />,
});

/** /share#<token>: an investigation as its share link shows it, read-only, to anyone holding the link. */
export function SharedInvestigation() {
  const [token, setToken] = useState<string | null>(null);
  useEffect(() => {
    const read = () => setToken(decodeURIComponent(window.location.hash.slice(1)));
    read();
    window.addEventListener('hashchange', read);
    return () => window.removeEventListener('hashchange', read);
  }, []);
  const shared = useQuery({
    queryKey: ['share', token],
    queryFn: () => shareClient.shares.open.query({ token: token as string }),
    enabled: Boolean(token),
    retry: false,
    refetchOnWindowFocus: true,
  });
  if (token === null) return <Progress label="Opening the shared investigation" />;
  if (
    token === '' ||
    (shared.isError && ['NOT_FOUND', 'BAD_REQUEST'].includes(errorCode(shared.error) ?? ''))
  )
    return <InvalidLink />;
  if (shared.isError)
    return (
      <main className="center">
        <div className="card">
          <ErrorBox error={shared.error} retry={() => shared.refetch()} />
        </div>
      </main>
    );
  if (shared.isPending)
    return (
      <main className="center">
        <Progress label="Opening the shared investigation" />
      </main>
    );
  return <SharedViewer token={token} shared={shared.data} client={shareClient} />;
}

function InvalidLink() {
  return (
    <main className="center">
      <div className="card stack">
        <h1 className="brand">Loupe</h1>
        <h2>This link is no longer valid</h2>
        <p className="muted">
          The share link was revoked, has expired, or was copied incompletely. Ask the person who shared it
          for a new one.
        </p>
      </div>
    </main>
  );
}
