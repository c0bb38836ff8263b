import { createContext, useContext } from 'react';
import { gql, useQuery } from 'urql';

export type Role = 'ADMIN' | 'OPERATOR' | 'VIEWER';
export type AuthMethod = 'SESSION' | 'API_KEY' | 'PASSWORD';

/** The signed-in person, as the console sees them. */
export interface Viewer {
  role: Role;
  via: AuthMethod;
  user: { id: string; username: string; role: Role };
}

export interface ViewerData {
  viewer: Viewer | null;
}

export const VIEWER_QUERY = gql`
  query Viewer {
    viewer {
      role
      via
      user {
        id
        username
        role
      }
    }
  }
`;

/** How a role reads in the console. */
export const ROLE_LABELS: Record<Role, string> = { ADMIN: 'Admin', OPERATOR: 'Operator', VIEWER: 'Viewer' };

/** The signed-in person, fetched fresh (a stale cache must not hide a sign-out). */
export function useViewerQuery() {
  return useQuery<ViewerData>({ query: VIEWER_QUERY, requestPolicy: 'network-only' });
}

/** Set by the console shell once it knows who is signed in; pages inside the shell read it. */
export const ViewerContext = createContext<Viewer | null>(null);

/** The signed-in person, for pages inside the console shell (which shows them only when signed in). */
export function useViewer(): Viewer {
  const viewer = useContext(ViewerContext);
  if (!viewer) throw new Error('useViewer() is for pages inside the console shell, which provides the signed-in person.');
  return viewer;
}
