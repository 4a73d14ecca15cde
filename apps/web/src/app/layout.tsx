import '@fontsource-variable/inter';
import './globals.css';
import type { ReactNode } from 'react';

export const metadata = { title: 'Loupe', description: 'An AI microscope for language models' };

export default function RootLayout({ children }: { children: ReactNode }) {
  return (
    <html lang="en">
      <body>{children}</body>
    </html>
  );
}
