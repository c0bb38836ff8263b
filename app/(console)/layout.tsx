import type { ReactNode } from 'react';
import { ConsoleShell } from './console-shell';

/** Every signed-in page shares the shell: header, navigation, and the sign-in guard. */
export default function ConsoleLayout({ children }: { children: ReactNode }) {
  return <ConsoleShell>{children}</ConsoleShell>;
}
