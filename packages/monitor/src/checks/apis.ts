import { describeError, isKind } from '@pcs/errors';
import type { Condition } from '../alerts/decide.js';
import type { Check, CheckOutcome } from './check.js';

/**
 * pipedrive-api / chatwoot-api: authentication and reachability with one cheap call each. The
 * Pipedrive customer count comes from the database mirror (a listing every 30 minutes would eat
 * the company's shared daily Pipedrive budget).
 */
function apiProblem(api: 'Pipedrive' | 'Chatwoot', fingerprint: string, err: unknown): CheckOutcome {
  const auth = isKind(err, 'auth', 'forbidden');
  const errorType = auth ? 'auth issue' : 'API failure';
  const { kind, message: text } = describeError(err);
  const message = auth ? `${api} rejected the credentials: ${text}` : `${api} API unreachable or failing: ${text}`;
  const status = (err as { status?: number }).status;
  const condition: Condition = {
    fingerprint,
    script: 'monitor',
    level: 'ERROR',
    errorType,
    message,
    details: { api, status, error_kind: kind },
  };
  return { status: 'critical', message, details: { api, errorType, errorKind: kind }, conditions: [condition] };
}

export const pipedriveApiCheck: Check = async (ctx) => {
  let me;
  try {
    me = await ctx.apis().pipedrive.me();
  } catch (err) {
    return apiProblem('Pipedrive', 'monitor:pipedrive-api', err);
  }
  {
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
  }
};

export const chatwootApiCheck: Check = async (ctx) => {
  let contacts: number;
  try {
    contacts = await ctx.apis().chatwoot.contactCount();
  } catch (err) {
    return apiProblem('Chatwoot', 'monitor:chatwoot-api', err);
  }
  return {
    status: 'ok',
    message: `Chatwoot API reachable; ${contacts} contacts`,
    details: { api: 'Chatwoot', contacts },
    conditions: [],
  };
};
