import { Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { RunEntity, AlertStateEntity, type DataSource } from '@pcs/db';
import { distinctWorkers } from '@pcs/ops';
import { QUEUE_NAMES, type Queues } from '@pcs/queues';

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
          const counts = await queues[q].getJobCounts('waiting', 'active', 'delayed', 'failed', 'completed', 'prioritized', 'waiting-children');
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
      await Promise.all(QUEUE_NAMES.map(async (q) => this.set({ queue: q }, distinctWorkers(await queues[q].getWorkers()).length)));
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
          const durations = jobs.filter((j) => j.processedOn && j.finishedOn).map((j) => (j.finishedOn! - j.processedOn!) / 1000).sort((a, b) => a - b);
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

  new Gauge({
    name: 'pcs_runs',
    help: 'Sync and cleanup runs by type and status',
    labelNames: ['type', 'status'],
    registers: [registry],
    async collect() {
      this.reset();
      const ds = getDs();
      if (!ds?.isInitialized) return;
      const rows = (await ds.getRepository(RunEntity).createQueryBuilder('r').select('r.type', 'type').addSelect('r.status', 'status').addSelect('COUNT(*)', 'n').groupBy('r.type').addGroupBy('r.status').getRawMany()) as { type: string; status: string; n: string }[];
      for (const r of rows) this.set({ type: r.type, status: r.status }, Number(r.n));
    },
  });

  new Gauge({
    name: 'pcs_sync_records',
    help: 'Records handled by sync runs, by outcome (sum over stored runs)',
    labelNames: ['outcome'],
    registers: [registry],
    async collect() {
      this.reset();
      const ds = getDs();
      if (!ds?.isInitialized) return;
      const row = (await ds
        .getRepository(RunEntity)
        .createQueryBuilder('r')
        .select('COALESCE(SUM(r.created),0)', 'created')
        .addSelect('COALESCE(SUM(r.updated),0)', 'updated')
        .addSelect('COALESCE(SUM(r.unchanged),0)', 'unchanged')
        .addSelect('COALESCE(SUM(r.adopted),0)', 'adopted')
        .addSelect('COALESCE(SUM(r.warnings),0)', 'warning')
        .addSelect('COALESCE(SUM(r.failed),0)', 'failed')
        .where('r.type = :t', { t: 'sync' })
        .getRawOne()) as Record<string, string>;
      for (const [outcome, n] of Object.entries(row ?? {})) this.set({ outcome }, Number(n));
    },
  });

  new Gauge({
    name: 'pcs_alerts',
    help: 'Alert notifications sent (sum of notify counts) and alerts firing now',
    labelNames: ['kind'],
    registers: [registry],
    async collect() {
      this.reset();
      const ds = getDs();
      if (!ds?.isInitialized) return;
      const row = (await ds
        .getRepository(AlertStateEntity)
        .createQueryBuilder('a')
        .select('COALESCE(SUM(a.notify_count),0)', 'sent')
        .addSelect("COALESCE(SUM(CASE WHEN a.state = 'firing' THEN 1 ELSE 0 END),0)", 'firing')
        .getRawOne()) as { sent: string; firing: string };
      this.set({ kind: 'sent' }, Number(row?.sent ?? 0));
      this.set({ kind: 'firing' }, Number(row?.firing ?? 0));
    },
  });

  return registry;
}
