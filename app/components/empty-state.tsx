import type { ReactNode } from 'react';
import styles from './empty-state.module.css';

/** What a list shows before it has anything in it: a title, a sentence, maybe an action. */
export function EmptyState({ title, children }: { title: string; children?: ReactNode }) {
  return (
    <div className={styles.empty}>
      <p className={styles.title}>{title}</p>
      {children && <div className={styles.body}>{children}</div>}
    </div>
  );
}
