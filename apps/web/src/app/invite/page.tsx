import { AcceptInvite } from './accept';

export default function InvitePage() {
  return <AcceptInvite />;
}
