import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import type { Request, Response, NextFunction } from 'express';
import { SIM_DEFAULTS } from './defaults.js';
import { PipedriveSim } from './pipedrive/state.js';
import type { PipedriveConfig } from './pipedrive/state.js';
import { pipedriveRouter, PD_PREFIX } from './pipedrive/routes.js';
import { ChatwootSim } from './chatwoot/state.js';
import { chatwootRouter, CW_PREFIX } from './chatwoot/routes.js';
import { GChatSim } from './gchat/state.js';
import { gchatRouter, GCHAT_PREFIX } from './gchat/routes.js';
import { controlRouter } from './control.js';
import type { ApiName, Stats } from './stats.js';
import { StatsRecorder } from './stats.js';
import { MonotonicClock } from './util.js';

export { seedDemoAccount, type DemoAccount } from './demo.js';
export { SIM_DEFAULTS, PD_FIELD_KEYS, PD_CUSTOMER_TYPE_OPTIONS, PD_LABEL_IDS } from './defaults.js';
export type { ApiName, ApiStats, Stats } from './stats.js';
export { PipedriveSim } from './pipedrive/state.js';
export type {
  PdOrg,
  PdPerson,
  PdAddress,
  PdContactItem,
  PdFilter,
  PipedriveFaults,
  PipedriveConfig,
  OrgInput,
  PersonInput,
  SeedOptions,
  WebhookEvent,
} from './pipedrive/state.js';
export { PD_BODIES, organizationFields } from './pipedrive/routes.js';
export { ChatwootSim } from './chatwoot/state.js';
export type {
  CwContact,
  CwConversation,
  CwDefinition,
  ChatwootFaults,
  ChatwootConfig,
  ContactInput,
  SeedContactInput,
  RecordInvalid,
} from './chatwoot/state.js';
export { CW_BODIES } from './chatwoot/routes.js';
export { GChatSim } from './gchat/state.js';
export type { GChatMessage, GChatThread, GChatFaults, GChatFailStatus } from './gchat/state.js';
export { googleError } from './gchat/routes.js';

export interface SimulatorOptions {
  /** 0 = random free port (default 0). */
  port?: number;
  /** default 127.0.0.1 */
  host?: string;
  /** PRNG seed (seeded data, shuffles, random faults). */
  seed?: number;
  /** Pipedrive configuration that `reset()` returns to, e.g. `{ customerLabelId: 23 }` or a rate limit. */
  pipedrive?: Partial<PipedriveConfig>;
}

export interface Simulator {
  start(): Promise<{ url: string; port: number }>;
  stop(): Promise<void>;
  /** `http://host:port` (valid after start). */
  readonly url: string;
  readonly pipedriveBaseUrl: string;
  readonly chatwootBaseUrl: string;
  /** Webhook URL with the valid key & token; default space `AAAA-sim`. */
  gchatWebhookUrl(space?: string): string;
  readonly pipedrive: PipedriveSim;
  readonly chatwoot: ChatwootSim;
  readonly gchat: GChatSim;
  stats(): Stats;
  resetStats(): void;
  /** All state, faults, configuration and stats back to defaults. */
  reset(): void;
}

function apiOf(path: string): ApiName | null {
  if (path.startsWith(PD_PREFIX)) return 'pipedrive';
  if (path.startsWith(CW_PREFIX)) return 'chatwoot';
  if (path.startsWith(GCHAT_PREFIX)) return 'gchat';
  return null;
}

export function createSimulator(opts: SimulatorOptions = {}): Simulator {
  const host = opts.host ?? SIM_DEFAULTS.host;
  const seed = opts.seed ?? SIM_DEFAULTS.seed;
  const clock = new MonotonicClock();
  const stats = new StatsRecorder();
  const pipedrive = new PipedriveSim(clock, seed, opts.pipedrive ?? {});
  const chatwoot = new ChatwootSim(seed);
  const gchat = new GChatSim();
  const resetAll = (): void => {
    pipedrive.reset();
    chatwoot.reset();
    gchat.reset();
    stats.reset();
  };

  let server: http.Server | null = null;
  let url = '';

  const app = express();
  app.disable('x-powered-by');
  app.set('query parser', 'extended');
  app.use((req: Request, res: Response, next: NextFunction) => {
    const api = apiOf(req.path);
    if (api) {
      const prefix = `/${api}`;
      res.on('finish', () => {
        // HTML viewers (e.g. GET /chatwoot/) are not API traffic: tests and benchmarks count API requests only
        if (res.locals.skipStats === true) return;
        const key = typeof res.locals.route === 'string' ? res.locals.route : `${req.method} ${prefix} (unrouted)`;
        stats.record(api, key, res.statusCode);
      });
    }
    next();
  });
  app.use(PD_PREFIX, pipedriveRouter(pipedrive, stats));
  app.use(CW_PREFIX, chatwootRouter(chatwoot));
  app.use(GCHAT_PREFIX, gchatRouter(gchat));
  app.use('/_control', controlRouter({ pipedrive, chatwoot, gchat, stats, reset: resetAll }));
  app.get('/', (_req, res) => {
    res.json({
      simulator: '@pcs/simulator',
      pipedrive: `${url}${PD_PREFIX}`,
      chatwoot: `${url}${CW_PREFIX}`,
      chatwootContacts: `${url}${CW_PREFIX}/`,
      gchat: `${url}${GCHAT_PREFIX}/`,
      control: `${url}/_control`,
    });
  });

  const sim: Simulator = {
    async start() {
      if (server) throw new Error('simulator already started');
      const srv = http.createServer(app);
      srv.keepAliveTimeout = 5_000;
      await new Promise<void>((resolve, reject) => {
        srv.once('error', reject);
        srv.listen(opts.port ?? 0, host, () => {
          srv.off('error', reject);
          resolve();
        });
      });
      server = srv;
      const port = (srv.address() as AddressInfo).port;
      const h = host.includes(':') ? `[${host}]` : host;
      url = `http://${h}:${port}`;
      return { url, port };
    },
    async stop() {
      const srv = server;
      if (!srv) return;
      server = null;
      await new Promise<void>((resolve) => {
        srv.close(() => resolve());
        srv.closeAllConnections();
      });
    },
    get url() {
      return url;
    },
    get pipedriveBaseUrl() {
      return `${url}/pipedrive`;
    },
    get chatwootBaseUrl() {
      return `${url}/chatwoot`;
    },
    gchatWebhookUrl(space = SIM_DEFAULTS.gchatSpace) {
      return `${url}/gchat/v1/spaces/${encodeURIComponent(space)}/messages?key=${SIM_DEFAULTS.gchatKey}&token=${SIM_DEFAULTS.gchatToken}`;
    },
    pipedrive,
    chatwoot,
    gchat,
    stats: () => stats.snapshot(),
    resetStats: () => stats.reset(),
    reset: resetAll,
  };
  return sim;
}
