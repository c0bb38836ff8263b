'use client';

import { useEffect, useState, type FormEvent } from 'react';
import { gql, useMutation } from 'urql';
import { Alert } from '../components/alert';
import { Button } from '../components/button';
import { Card } from '../components/card';
import { TextField } from '../components/text-field';
import { errorMessage } from '../lib/graphql-client';
import { useViewer } from '../lib/viewer';
import styles from './sign-in.module.css';

const SIGN_IN = gql`
  mutation SignIn($input: SignInInput!) {
    signIn(input: $input) {
      __typename
      ... on Error {
        message
      }
    }
  }
`;

/** Where to go after signing in: `?next=`, if it is a path on this site (never `//other.host`). */
function target(): string {
  const next = new URLSearchParams(window.location.search).get('next');
  return next && next.startsWith('/') && !next.startsWith('//') && !next.startsWith('/\\') ? next : '/';
}

/** Pre-rendered as plain HTML, so the form shows before any script runs. */
export default function SignInPage() {
  const [viewer] = useViewer();
  const [state, signIn] = useMutation<{ signIn: { __typename: string; message?: string } }>(SIGN_IN);
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<string | null>(null);

  // Already signed in: nothing to do here. A full navigation, since the target may be GraphiQL.
  useEffect(() => {
    if (viewer.data?.viewer) window.location.replace(target());
  }, [viewer.data]);

  async function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    setError(null);
    const result = await signIn({ input: { username, password } });
    if (result.error) return setError(errorMessage(result.error));
    const outcome = result.data?.signIn;
    if (outcome?.__typename === 'SignInSuccess') return window.location.replace(target());
    setError(outcome?.message ?? 'Signing in failed. Try again.');
  }

  return (
    <main className={styles.page}>
      <Card className={styles.panel} aria-labelledby="sign-in-title">
        <h1 id="sign-in-title" className={styles.brand}>
          <span className={styles.mark} aria-hidden="true" />
          Runboard
        </h1>
        <p className={styles.lead}>Sign in to run, schedule and watch your scripts.</p>
        {/* method="post": if scripts have not loaded, a submit must not put the password in the URL. */}
        <form className={styles.form} onSubmit={submit} method="post" noValidate>
          {error && <Alert>{error}</Alert>}
          <TextField
            label="Username"
            name="username"
            autoComplete="username"
            autoFocus
            required
            value={username}
            onChange={(e) => setUsername(e.target.value)}
          />
          <TextField
            label="Password"
            name="password"
            type="password"
            autoComplete="current-password"
            required
            value={password}
            onChange={(e) => setPassword(e.target.value)}
          />
          <Button type="submit" block disabled={state.fetching}>
            {state.fetching ? 'Signing in…' : 'Sign in'}
          </Button>
        </form>
      </Card>
    </main>
  );
}
