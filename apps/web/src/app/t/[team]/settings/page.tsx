import { TeamSettings } from '@/components/team-settings';

export default function SettingsPage() {
  return <TeamSettings />;
}
