'use client';

import Link from 'next/link';
import { usePathname } from 'next/navigation';
import { useEffect, useState, type ReactNode } from 'react';
import { gql, useMutation } from 'urql';
import { Alert } from '../components/alert';
import { Badge } from '../components/badge';
import { Brand } from '../components/brand';
import { Button } from '../components/button';
import { LoadingState } from '../components/loading-state';
import { ThemeToggle } from '../components/theme-toggle';
import { errorMessage } from '../lib/graphql-client';
import { ROLE_LABELS, useViewerQuery, ViewerContext, type Viewer } from '../lib/viewer';
import styles from './console-shell.module.css';

const SIGN_OUT = gql`
  mutation SignOut {
    signOut
  }
`;

/** The console's sections. Each new page adds itself here. */
const SECTIONS = [{ href: '/', label: 'Overview' }];

/** Sends an anonymous visitor to sign in, coming back here afterwards. */
function signInUrl(): string {
  const here = window.location.pathname + window.location.search;
  return here === '/' ? '/sign-in' : `/sign-in?next=${encodeURIComponent(here)}`;
}

/**
 * The frame of every signed-in page: who is signed in, navigation, theme, sign-out. Pages render
 * only once the viewer is known, and read them with `useViewer()`.
 */
export function ConsoleShell({ children }: { children: ReactNode }) {
  const [viewerResult, refetchViewer] = useViewerQuery();
  const viewer = viewerResult.data?.viewer;
  const anonymous = viewerResult.data !== undefined && !viewer;

  useEffect(() => {
    if (anonymous) window.location.replace(signInUrl());
  }, [anonymous]);

  let content: ReactNode;
  if (viewerResult.error && !viewer) {
    content = (
      <div className={styles.problem}>
        <Alert>{errorMessage(viewerResult.error)}</Alert>
        <Button variant="secondary" onClick={() => refetchViewer({ requestPolicy: 'network-only' })} disabled={viewerResult.fetching}>
          Try again
        </Button>
      </div>
    );
  } else if (!viewer) {
    content = <LoadingState label={anonymous ? 'Taking you to the sign-in page…' : 'Loading…'} />;
  } else {
    content = <ViewerContext.Provider value={viewer}>{children}</ViewerContext.Provider>;
  }

  return (
    <>
      <a className={styles.skip} href="#main">
        Skip to content
      </a>
      <header className={styles.header}>
        <div className={styles.bar}>
          <Link href="/" className={styles.home} aria-label="Runboard overview">
            <Brand />
          </Link>
          {viewer && <Navigation />}
          {viewer && <SignedInAs viewer={viewer} />}
          <div className={styles.actions}>
            <ThemeToggle />
            {viewer && <SignOutButton />}
          </div>
        </div>
      </header>
      <main id="main" className={styles.main} tabIndex={-1}>
        {content}
      </main>
    </>
  );
}

function Navigation() {
  const pathname = usePathname();
  return (
    <nav className={styles.nav} aria-label="Console">
      {SECTIONS.map(({ href, label }) => {
        const current = href === '/' ? pathname === '/' : pathname === href || pathname.startsWith(`${href}/`);
        return (
          <Link key={href} href={href} className={styles.navLink} aria-current={current ? 'page' : undefined}>
            {label}
          </Link>
        );
      })}
    </nav>
  );
}

function SignedInAs({ viewer }: { viewer: Viewer }) {
  return (
    <p className={styles.who}>
      <span className="visually-hidden">Signed in as </span>
      <span className={styles.username} data-testid="username">
        {viewer.user.username}
      </span>
      <span className={styles.role}>
        <span className="visually-hidden">, role </span>
        <Badge>{ROLE_LABELS[viewer.role]}</Badge>
      </span>
    </p>
  );
}

function SignOutButton() {
  const [state, signOut] = useMutation<{ signOut: boolean }>(SIGN_OUT);
  const [error, setError] = useState<string | null>(null);
  return (
    <>
      <Button
        variant="secondary"
        disabled={state.fetching}
        onClick={async () => {
          setError(null);
          const result = await signOut({});
          // `false` means there was no session left to end: signed out all the same.
          if (result.error) return setError(errorMessage(result.error));
          window.location.replace('/sign-in');
        }}
      >
        {state.fetching ? 'Signing out…' : 'Sign out'}
      </Button>
      {error && (
        <div className={styles.toast}>
          <Alert>Signing out failed: {error}</Alert>
        </div>
      )}
    </>
  );
}
