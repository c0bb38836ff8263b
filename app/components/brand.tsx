import styles from './brand.module.css';

/** The product mark and name, as in the tab icon (app/icon.svg). */
export function Brand({ size = 'medium' }: { size?: 'medium' | 'large' }) {
  return (
    <span className={`${styles.brand} ${styles[size]}`}>
      <span className={styles.mark} aria-hidden="true" />
      Runboard
    </span>
  );
}
