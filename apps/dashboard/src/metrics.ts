import { Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { RunEntity, AlertStateEntity, type DataSource } from '@pcs/db';
import { onlineWorkers, QUEUE_NAMES, type Queues } from '@pcs/queues';

/**
 * Prometheus metrics, computed at scrape time from the real sources (BullMQ in Redis, the runs
 * and alert tables), so every dashboard replica reports the same numbers.
 */
export function createMetrics(queues: Queues, getDs: () => DataSource | undefined): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'pcs_dashboard_' });

  new Gauge({
    name: 'pcs_queue_jobs',
    help: 'Jobs per queue and state',
    labelNames: ['queue', 'state'],
    registers: [registry],
    async collect() {
      this.reset();
      await Promise.all(
        QUEUE_NAMES.map(async (q) => {
          const counts = await queues[q].getJobCounts(
            'waiting',
            'active',
            'delayed',
            'failed',
            'completed',
            'prioritized',
            'waiting-children',
          );
          for (const [state, n] of Object.entries(counts)) this.set({ queue: q, state }, n ?? 0);
        }),
      );
    },
  });

  new Gauge({
    name: 'pcs_queue_workers',
    help: 'Workers connected per queue',
    labelNames: ['queue'],
    registers: [registry],
    async collect() {
      this.reset();
      await Promise.all(QUEUE_NAMES.map(async (q) => this.set({ queue: q }, (await onlineWorkers(queues[q])).length)));
    },
  });

  new Gauge({
    name: 'pcs_job_duration_seconds',
    help: 'Processing time of the most recent completed jobs per queue (up to 100), by statistic',
    labelNames: ['queue', 'stat'],
    registers: [registry],
    async collect() {
      this.reset();
      await Promise.all(
        QUEUE_NAMES.map(async (q) => {
          const jobs = await queues[q].getJobs(['completed'], 0, 99, false);
          const durations = jobs
            .filter((j) => j.processedOn && j.finishedOn)
            .map((j) => (j.finishedOn! - j.processedOn!) / 1000)
            .sort((a, b) => a - b);
          if (!durations.length) return;
          const pick = (p: number) => durations[Math.min(durations.length - 1, Math.floor(p * durations.length))]!;
          this.set({ queue: q, stat: 'avg' }, durations.reduce((a, b) => a + b, 0) / durations.length);
          this.set({ queue: q, stat: 'p50' }, pick(0.5));
          this.set({ queue: q, stat: 'p95' }, pick(0.95));
          this.set({ queue: q, stat: 'max' }, durations[durations.length - 1]!);
        }),
      );
    },
  });

  /** A gauge filled from the database at scrape time; empty while the database is away. */
  const dbGauge = (
    name: string,
    help: string,
    labelNames: string[],
    fill: (ds: DataSource, set: (labels: Record<string, string>, v: number) => void) => Promise<void>,
  ) =>
    new Gauge({
      name,
      help,
      labelNames,
      registers: [registry],
      async collect() {
        this.reset();
        const ds = getDs();
        if (ds?.isInitialized) await fill(ds, (labels, v) => this.set(labels, v));
      },
    });

  dbGauge('pcs_runs', 'Sync and cleanup runs by type and status', ['type', 'status'], async (ds, set) => {
    const rows = (await ds
      .getRepository(RunEntity)
      .createQueryBuilder('r')
      .select('r.type', 'type')
      .addSelect('r.status', 'status')
      .addSelect('COUNT(*)', 'n')
      .groupBy('r.type')
      .addGroupBy('r.status')
      .getRawMany()) as { type: string; status: string; n: string }[];
    for (const r of rows) set({ type: r.type, status: r.status }, Number(r.n));
  });

  dbGauge(
    'pcs_sync_records',
    'Records handled by sync runs, by outcome (sum over stored runs)',
    ['outcome'],
    async (ds, set) => {
      const qb = ds
        .getRepository(RunEntity)
        .createQueryBuilder('r')
        .select('COUNT(*)', 'runs')
        .where('r.type = :t', { t: 'sync' });
      const columns = {
        created: 'created',
        updated: 'updated',
        unchanged: 'unchanged',
        adopted: 'adopted',
        warning: 'warnings',
        failed: 'failed',
      };
      for (const [outcome, column] of Object.entries(columns)) qb.addSelect(`COALESCE(SUM(r.${column}),0)`, outcome);
      const row = (await qb.getRawOne()) as Record<string, string> | undefined;
      for (const outcome of Object.keys(columns)) set({ outcome }, Number(row?.[outcome] ?? 0));
    },
  );

  dbGauge(
    'pcs_alerts',
    'Alert notifications sent (sum of notify counts) and alerts firing now',
    ['kind'],
    async (ds, set) => {
      const row = (await ds
        .getRepository(AlertStateEntity)
        .createQueryBuilder('a')
        .select('COALESCE(SUM(a.notify_count),0)', 'sent')
        .addSelect("COALESCE(SUM(CASE WHEN a.state = 'firing' THEN 1 ELSE 0 END),0)", 'firing')
        .getRawOne()) as { sent: string; firing: string } | undefined;
      set({ kind: 'sent' }, Number(row?.sent ?? 0));
      set({ kind: 'firing' }, Number(row?.firing ?? 0));
    },
  );

  return registry;
}
