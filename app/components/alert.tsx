import type { ReactNode } from 'react';
import styles from './alert.module.css';

/** An error message that screen readers announce as it appears. */
export function Alert({ children }: { children: ReactNode }) {
  return (
    <div role="alert" className={styles.alert}>
      {children}
    </div>
  );
}
