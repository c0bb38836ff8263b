'use client';

import { useEffect } from 'react';
import { gql, useMutation } from 'urql';
import { Alert } from './components/alert';
import { Button } from './components/button';
import { Card } from './components/card';
import { ThemeToggle } from './components/theme-toggle';
import { errorMessage } from './lib/graphql-client';
import { useViewer } from './lib/viewer';
import styles from './shell.module.css';

const SIGN_OUT = gql`
  mutation SignOut {
    signOut
  }
`;

/** The signed-in shell: who you are, sign-out, and the (growing) console. */
export default function Home() {
  const [viewer] = useViewer();
  const [signOutState, signOut] = useMutation(SIGN_OUT);
  const person = viewer.data?.viewer;

  useEffect(() => {
    if (viewer.data && !person) window.location.replace('/sign-in');
  }, [viewer.data, person]);

  if (viewer.error) {
    return (
      <main className={styles.main}>
        <Alert>{errorMessage(viewer.error)}</Alert>
      </main>
    );
  }
  if (!person) return <div aria-busy="true" />;

  return (
    <>
      <header className={styles.header}>
        <div className={styles.brand}>
          <span className={styles.mark} aria-hidden="true" />
          Runboard
        </div>
        <div className={styles.user}>
          <div className={styles.who}>
            <span className="visually-hidden">Signed in as</span>
            <span className={styles.username} data-testid="username">
              {person.user.username}
            </span>
            <span className={styles.role}>{person.role}</span>
          </div>
          <ThemeToggle />
          <Button
            variant="secondary"
            disabled={signOutState.fetching}
            onClick={async () => {
              await signOut({});
              window.location.replace('/sign-in');
            }}
          >
            Sign out
          </Button>
        </div>
      </header>
      <main className={styles.main}>
        <h1 className={styles.title}>Overview</h1>
        <Card>
          <div className={styles.empty}>
            <p className={styles.emptyTitle}>Nothing to show yet</p>
            <p>Scripts, schedules and checks will appear here as soon as they exist.</p>
          </div>
        </Card>
      </main>
    </>
  );
}
