import Link from 'next/link';
import { Card } from './components/card';
import { PageTitle } from './components/page-title';
import styles from './standalone-page.module.css';

export default function NotFound() {
  return (
    <main className={styles.page}>
      <Card className={styles.panel}>
        <PageTitle>Page not found</PageTitle>
        <p className={styles.text}>There is nothing at this address. It may have moved, or the link may be mistyped.</p>
        <div className={styles.actions}>
          <Link href="/">Go to the overview</Link>
        </div>
      </Card>
    </main>
  );
}
