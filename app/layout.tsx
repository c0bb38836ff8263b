import type { Metadata, Viewport } from 'next';
import type { ReactNode } from 'react';
import './globals.css';
import { GraphQLProvider } from './lib/graphql-client';

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
        <GraphQLProvider>{children}</GraphQLProvider>
      </body>
    </html>
  );
}
