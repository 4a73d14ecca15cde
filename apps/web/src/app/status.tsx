'use client';

import { useQuery } from '@tanstack/react-query';
import { Providers, useTRPC } from '@/trpc/client';

function Health() {
  const trpc = useTRPC();
  const health = useQuery(trpc.system.health.queryOptions());
  if (health.isPending) return <p>Connecting to the API…</p>;
  if (health.isError) return <p role="alert">API unreachable: {health.error.message}</p>;
  return <p data-testid="api-status">API online</p>;
}

export function Status() {
  return (
    <Providers>
      <Health />
    </Providers>
  );
}
