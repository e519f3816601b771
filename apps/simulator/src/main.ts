import { parseArgs } from 'node:util';
import { createSimulator, seedDemoAccount, SIM_DEFAULTS } from './index.js';

const { values } = parseArgs({
  // `pnpm run <app> -- --flag`: pnpm 12 passes the `--` on; it is not the end of the options here
  args: process.argv.slice(2).filter((a, i) => i > 0 || a !== '--'),
  options: {
    port: { type: 'string' },
    host: { type: 'string' },
    'seed-orgs': { type: 'string' },
    demo: { type: 'boolean' },
    seed: { type: 'string' },
    'customer-label-id': { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  },
  strict: true,
});

if (values.help) {
  console.log(`Usage: simulator [--port 4010] [--host 127.0.0.1] [--seed-orgs N] [--demo] [--seed 42] [--customer-label-id 17]
Fake Pipedrive (/pipedrive), Chatwoot (/chatwoot), Google Chat webhooks (/gchat) and a control API (/_control).`);
  process.exit(0);
}

function intFlag(v: string | undefined, name: string, dflt: number): number {
  if (v === undefined || v === '') return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) {
    console.error(`invalid --${name}: ${v}`);
    process.exit(2);
  }
  return n;
}

const port = intFlag(values.port ?? process.env.SIMULATOR_PORT, 'port', SIM_DEFAULTS.port);
const seedOrgs = intFlag(values['seed-orgs'], 'seed-orgs', 0);
const seed = intFlag(values.seed, 'seed', SIM_DEFAULTS.seed);
const customerLabelId = intFlag(
  values['customer-label-id'],
  'customer-label-id',
  SIM_DEFAULTS.pipedriveCustomerLabelId,
);
const sim = createSimulator({ port, host: values.host ?? SIM_DEFAULTS.host, seed, pipedrive: { customerLabelId } });

const { url } = await sim.start();
if (values.demo) {
  const d = seedDemoAccount(sim, { orgs: seedOrgs || undefined, seed });
  console.log(
    `demo account: ${d.orgs} organizations (${d.customers} customers), ${d.persons} persons; 2 contacts left by the original deployment in Chatwoot`,
  );
} else if (seedOrgs > 0) {
  const r = sim.pipedrive.seed({ orgs: seedOrgs, personsPerOrg: 3, seed });
  console.log(`seeded ${r.orgs} orgs and ${r.persons} persons`);
}

console.log(`simulator listening on ${url}
  Pipedrive:   ${sim.pipedriveBaseUrl}
  Chatwoot:    ${sim.chatwootBaseUrl}
  Google Chat: ${sim.gchatWebhookUrl()}
  Chat viewer: ${url}/gchat/
  CW contacts: ${url}/chatwoot/  (Chatwoot contacts viewer)
  Control:     ${url}/_control  (POST /_control/reset, GET /_control/stats, ...)

# paste into .env:
PIPEDRIVE_BASE_URL=${sim.pipedriveBaseUrl}
PIPEDRIVE_API_KEY=${SIM_DEFAULTS.pipedriveToken}
CHATWOOT_BASE_URL=${sim.chatwootBaseUrl}
CHATWOOT_API_KEY=${SIM_DEFAULTS.chatwootAdminToken}
CHATWOOT_ACCOUNT_ID=${SIM_DEFAULTS.chatwootAccountId}
SUPPORT_GOOGLE_CHAT=${sim.gchatWebhookUrl()}
PIPEDRIVE_PHONE_FIELD=Main phone
PIPEDRIVE_SUPPORT_LINK_FIELD=Support portal
DEFAULT_COUNTRY_CODE=AU
# keep the simulator's data apart from a real setup's:
MYSQL_DATABASE=pipedrive_chatwoot_sync_sim
QUEUE_PREFIX=pcs-sim
`);

let stopping = false;
const shutdown = (signal: string): void => {
  if (stopping) return;
  stopping = true;
  console.log(`${signal} received, stopping simulator`);
  sim
    .stop()
    .then(() => process.exit(0))
    .catch((err: unknown) => {
      console.error(err);
      process.exit(1);
    });
};
process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));
