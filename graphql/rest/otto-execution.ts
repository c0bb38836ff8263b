/**
 * Otto's execution side: attachments (multipart upload, download), agent self-registration
 * (`PUT /api/register`), `GET /api/heartbeat`, `PUT /api/action/sync` and the live-run socket
 * `WS /api/action/async`. Part of the Otto dialect (graphql/rest/otto.ts).
 */
import type { Route, UpgradeRoute } from './route-table';

export const ottoExecutionRoutes: Route[] = [];

export const ottoUpgrades: UpgradeRoute[] = [];
