import { gql, useQuery } from 'urql';

export interface ViewerData {
  viewer: { role: 'ADMIN' | 'OPERATOR' | 'VIEWER'; via: string; user: { id: string; username: string } } | null;
}

export const VIEWER_QUERY = gql`
  query Viewer {
    viewer {
      role
      via
      user {
        id
        username
      }
    }
  }
`;

/** The signed-in person, fetched fresh (a stale cache must not hide a sign-out). */
export function useViewer() {
  return useQuery<ViewerData>({ query: VIEWER_QUERY, requestPolicy: 'network-only' });
}
