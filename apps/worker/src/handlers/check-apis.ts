import { checkJobs, handle, type HandlerEntry, type MonitorCheck } from '@pcs/queues';
import { isApiError } from '@pcs/http';
import type { Condition } from '@pcs/monitor';
import type { WorkerContext } from '../context.js';
import { recordCheck, type CheckOutcome } from './check-record.js';

/**
 * pipedrive-api / chatwoot-api: authentication and reachability with one cheap call each. The
 * Pipedrive customer count comes from the last complete listing in the database (a listing every
 * 30 minutes would eat the company's shared daily Pipedrive budget).
 */
function apiProblem(api: 'Pipedrive' | 'Chatwoot', check: MonitorCheck, err: unknown): CheckOutcome {
  const auth = isApiError(err, 'auth') || isApiError(err, 'forbidden');
  const errorType = auth ? 'auth issue' : 'API failure';
  const message = auth
    ? `${api} rejected the credentials: ${(err as Error).message}`
    : `${api} API unreachable or failing: ${(err as Error).message}`;
  const condition: Condition = {
    fingerprint: `monitor:${check}`,
    script: 'monitor',
    level: 'ERROR',
    errorType,
    message,
    details: { api, status: isApiError(err) ? err.status : undefined },
  };
  return { status: 'critical', message, details: { api, errorType }, conditions: [condition] };
}

export function checkPipedriveApiHandler(ctx: WorkerContext): HandlerEntry {
  const def = checkJobs.find((d) => d.name === 'pipedrive-api')!;
  return handle(def, async () =>
    recordCheck(ctx, 'pipedrive-api', async () => {
      try {
        const me = await ctx.apis().pipedrive.me();
        const rows = (await ctx.ds.query(
          'SELECT COUNT(*) AS n FROM organizations WHERE is_customer = 1 AND is_deleted = 0',
        )) as { n: string }[];
        const customers = Number(rows[0]?.n ?? 0);
        return {
          status: 'ok',
          message: `Pipedrive API reachable as ${me.name}; ${customers} customer organizations at the last complete listing`,
          details: { api: 'Pipedrive', user: me.name, customers },
          conditions: [],
        };
      } catch (err) {
        return apiProblem('Pipedrive', 'pipedrive-api', err);
      }
    }),
  );
}

export function checkChatwootApiHandler(ctx: WorkerContext): HandlerEntry {
  const def = checkJobs.find((d) => d.name === 'chatwoot-api')!;
  return handle(def, async () =>
    recordCheck(ctx, 'chatwoot-api', async () => {
      try {
        const contacts = await ctx.apis().chatwoot.contactCount();
        return {
          status: 'ok',
          message: `Chatwoot API reachable; ${contacts} contacts`,
          details: { api: 'Chatwoot', contacts },
          conditions: [],
        };
      } catch (err) {
        return apiProblem('Chatwoot', 'chatwoot-api', err);
      }
    }),
  );
}
