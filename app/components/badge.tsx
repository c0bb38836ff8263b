import type { ReactNode } from 'react';
import styles from './badge.module.css';

/** A short label beside a name: a role, a state. */
export function Badge({ children }: { children: ReactNode }) {
  return <span className={styles.badge}>{children}</span>;
}
