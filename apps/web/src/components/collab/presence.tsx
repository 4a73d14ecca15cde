'use client';

import { useEffect, useState } from 'react';
import { useTRPCClient } from '@/trpc/client';
import { initials, personColor } from './people';

/** A heartbeat this often keeps the caller inside the server's presence window (10 s) with room to spare. */
const beatMs = 3_000;

/**
 * "Present now": who has this investigation open. Each open page beats every few seconds (the answer is the
 * list); leaving says so at once, and a page that vanishes without leaving drops out when its beats stop.
 */
export function PresentNow({ investigationId, selfId }: { investigationId: string; selfId: string | null }) {
  const client = useTRPCClient();
  const [present, setPresent] = useState<{ userId: string; name: string }[]>([]);
  const [failed, setFailed] = useState(false);
  useEffect(() => {
    let live = true;
    const beat = () =>
      client.presence.heartbeat
        .mutate({ investigationId })
        .then((r) => {
          if (!live) return;
          setPresent(r.present);
          setFailed(false);
        })
        .catch(() => live && setFailed(true));
    void beat();
    const timer = setInterval(beat, beatMs);
    // A closing tab cannot wait for a fetch: a beacon carries the leave with the page's cookie.
    const leaveBeacon = () =>
      navigator.sendBeacon(
        '/api/trpc/presence.leave',
        new Blob([JSON.stringify({ investigationId })], { type: 'application/json' }),
      );
    window.addEventListener('pagehide', leaveBeacon);
    return () => {
      live = false;
      clearInterval(timer);
      window.removeEventListener('pagehide', leaveBeacon);
      void client.presence.leave.mutate({ investigationId }).catch(() => {});
    };
  }, [client, investigationId]);
  return (
    <ul
      className="presence"
      aria-label="Present now"
      title={failed ? 'Presence is not updating (connection lost)' : 'Present now'}
    >
      {present.map((p) => (
        <li
          key={p.userId}
          title={p.userId === selfId ? `${p.name} (you)` : p.name}
          aria-label={p.userId === selfId ? `${p.name} (you)` : p.name}
          style={{ background: personColor(p.userId) }}
        >
          {initials(p.name)}
        </li>
      ))}
    </ul>
  );
}
