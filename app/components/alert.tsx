import type { ReactNode } from 'react';
import styles from './alert.module.css';

/** An error message that screen readers announce as it appears. */
export function Alert({ id, children }: { id?: string; children: ReactNode }) {
  return (
    <div id={id} role="alert" className={styles.alert}>
      <svg className={styles.icon} viewBox="0 0 20 20" aria-hidden="true" focusable="false">
        <circle cx="10" cy="10" r="10" fill="currentColor" />
        <path d="M10 5.5v5.5" stroke="var(--surface)" strokeWidth="2.2" strokeLinecap="round" />
        <circle cx="10" cy="14.4" r="1.3" fill="var(--surface)" />
      </svg>
      <div className={styles.message}>{children}</div>
    </div>
  );
}
