'use client';

import { useEffect, useRef, useState, type FormEvent } from 'react';
import { gql, useMutation } from 'urql';
import { Alert } from '../components/alert';
import { Brand } from '../components/brand';
import { Button } from '../components/button';
import { Card } from '../components/card';
import { TextField } from '../components/text-field';
import { ThemeToggle } from '../components/theme-toggle';
import { errorMessage } from '../lib/graphql-client';
import { useViewerQuery, type Role } from '../lib/viewer';
import styles from './sign-in.module.css';

const SIGN_IN = gql`
  mutation SignIn($input: SignInInput!) {
    signIn(input: $input) {
      __typename
      ... on SignInSuccess {
        data {
          role
          user {
            username
          }
        }
      }
      ... on Error {
        message
      }
    }
  }
`;

type SignInResult =
  | { __typename: 'SignInSuccess'; data: { role: Role; user: { username: string } } }
  | { __typename: 'ValidationError' | 'SignInError' | 'RateLimitedError'; message: string };

/**
 * Where to go after signing in: `?next=`, if it is a path on this site, else the overview. The
 * path is resolved the way the browser would and must stay on this origin: a string check alone
 * misses `/\t/other.host`, which browsers read as `//other.host`.
 */
function target(): string {
  const next = new URLSearchParams(window.location.search).get('next');
  if (!next || !next.startsWith('/') || next.startsWith('//') || next.startsWith('/\\')) return '/';
  const resolved = new URL(next, window.location.origin);
  return resolved.origin === window.location.origin ? resolved.pathname + resolved.search + resolved.hash : '/';
}

/**
 * Pre-rendered as plain HTML, so the form shows before any script runs. It reads `?next=` from
 * `window.location` when needed rather than with useSearchParams, which would keep the form out of
 * the pre-rendered HTML.
 */
export default function SignInPage() {
  const [viewer] = useViewerQuery();
  const [state, signIn] = useMutation<{ signIn: SignInResult }>(SIGN_IN);
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<string | null>(null);
  const passwordField = useRef<HTMLInputElement>(null);

  // Already signed in: nothing to do here. A full navigation, since the target may be GraphiQL.
  useEffect(() => {
    if (viewer.data?.viewer) window.location.replace(target());
  }, [viewer.data]);

  async function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    setError(null);
    const result = await signIn({ input: { username, password } });
    const outcome = result.data?.signIn;
    // A full navigation, so the next page starts with a client (and WebSocket) of the new session.
    if (outcome?.__typename === 'SignInSuccess') return window.location.replace(target());
    setError(result.error ? errorMessage(result.error) : (outcome?.message ?? 'Signing in failed. Try again.'));
    passwordField.current?.select();
  }

  return (
    <main className={styles.page}>
      <div className={styles.theme}>
        <ThemeToggle />
      </div>
      <Card className={styles.panel} aria-labelledby="sign-in-title">
        <h1 id="sign-in-title" className={styles.title}>
          <Brand size="large" />
        </h1>
        <p className={styles.lead}>Sign in to run, schedule and watch your scripts.</p>
        {/* method="post": if scripts have not loaded, a submit must not put the password in the URL. */}
        <form className={styles.form} onSubmit={submit} method="post" noValidate>
          {error && <Alert id="sign-in-error">{error}</Alert>}
          <TextField
            label="Username"
            name="username"
            autoComplete="username"
            autoCapitalize="none"
            spellCheck={false}
            autoFocus
            required
            aria-invalid={error ? true : undefined}
            aria-describedby={error ? 'sign-in-error' : undefined}
            value={username}
            onChange={(e) => setUsername(e.target.value)}
          />
          <TextField
            ref={passwordField}
            label="Password"
            name="password"
            type="password"
            autoComplete="current-password"
            required
            aria-invalid={error ? true : undefined}
            aria-describedby={error ? 'sign-in-error' : undefined}
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
