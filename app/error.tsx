'use client';

import { Alert } from './components/alert';
import { Button } from './components/button';
import { Card } from './components/card';
import { PageTitle } from './components/page-title';
import styles from './standalone-page.module.css';

/**
 * What a page shows when it fails to render, instead of a blank screen. The details stay in the
 * browser console; a person gets a sentence and a way out.
 */
export default function PageError({ retry }: { error: unknown; retry: () => void }) {
  return (
    <main className={styles.page}>
      <Card className={styles.panel}>
        <PageTitle>Something went wrong</PageTitle>
        <Alert>This page could not be shown. Try again, or reload the page if it keeps happening.</Alert>
        <div className={styles.actions}>
          <Button onClick={() => retry()}>Try again</Button>
          <Button variant="secondary" onClick={() => window.location.reload()}>
            Reload the page
          </Button>
        </div>
      </Card>
    </main>
  );
}
