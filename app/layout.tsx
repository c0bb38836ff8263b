import type { Metadata, Viewport } from 'next';
import type { ReactNode } from 'react';
import './globals.css';
import { Providers } from './providers';

export const metadata: Metadata = {
  title: 'Runboard',
  description: 'Scripts on a schedule or on demand, on one host or many, watched live.',
};

export const viewport: Viewport = { width: 'device-width', initialScale: 1 };

// Applies the stored theme before the first paint, so a dark page never flashes light.
const themeScript = `try{var t=localStorage.getItem('runboard-theme');if(t==='light'||t==='dark')document.documentElement.dataset.theme=t}catch(e){}`;

export default function RootLayout({ children }: { children: ReactNode }) {
  return (
    <html lang="en" suppressHydrationWarning>
      <head>
        <script dangerouslySetInnerHTML={{ __html: themeScript }} />
      </head>
      <body>
        <Providers>{children}</Providers>
      </body>
    </html>
  );
}
