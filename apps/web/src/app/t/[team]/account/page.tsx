import { AccountSettings } from '@/components/account';

export default function AccountPage() {
  return <AccountSettings />;
}
