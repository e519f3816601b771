import { AlertStateEntity, In, type DataSource } from '@pcs/db';
import { AppError } from '@pcs/errors';
import type { Alert } from '@pcs/notify/alert';
import type { AlertRecord, Decision } from './decide.js';
import type { AlertSelector, AlertStore, OutboxChannel, OutboxEntry } from './store.js';

/**
 * Alert state in MySQL (`alert_states`), the primary store. A fingerprint is evaluated under its
 * row lock (SELECT … FOR UPDATE), and the message it owes is an `alert_outbox` row committed in
 * the same transaction: no state is saved without its message, no message is sent twice.
 */
export class MysqlAlertStore implements AlertStore {
  readonly name = 'mysql' as const;

  /** `ds` may be a function (a dashboard whose database comes and goes). */
  constructor(private readonly source: DataSource | (() => DataSource | undefined)) {}

  private get ds(): DataSource {
    const ds = typeof this.source === 'function' ? this.source() : this.source;
    if (!ds?.isInitialized)
      throw new AppError({
        kind: 'database',
        source: 'database',
        code: 'POOL_CLOSED',
        message: 'the database is not connected',
      });
    return ds;
  }

  async transact(
    fingerprint: string,
    create: boolean,
    decide: (prev: AlertRecord | undefined) => Decision,
    channel: OutboxChannel,
  ): Promise<Decision> {
    const ds = this.ds;
    if (create) {
      // The row to lock; created outside the locking transaction so two first evaluations do not
      // deadlock on a gap lock. Dated at the epoch: any real state is newer than this placeholder.
      await ds.query(
        `INSERT IGNORE INTO alert_states (fingerprint, state, level, script, error_type, message, notify_count, updated_at)
         VALUES (?, 'ok', 'INFO', 'monitor', '-', '-', 0, '1970-01-01 00:00:01')`,
        [fingerprint],
      );
    }
    return ds.transaction(async (m) => {
      const row = await m
        .getRepository(AlertStateEntity)
        .findOne({ where: { fingerprint }, lock: { mode: 'pessimistic_write' } });
      const d = decide(row ?? undefined);
      if (d.next) await m.getRepository(AlertStateEntity).save(d.next);
      if (d.notify)
        await m.query(
          'INSERT INTO alert_outbox (fingerprint, channel, alert, created_at, attempts) VALUES (?, ?, ?, UTC_TIMESTAMP(3), 0)',
          [fingerprint, channel, JSON.stringify(d.notify)],
        );
      return d;
    });
  }

  async get(fingerprint: string): Promise<AlertRecord | undefined> {
    const row = await this.ds.getRepository(AlertStateEntity).findOneBy({ fingerprint });
    return row ?? undefined;
  }

  async firing(selector?: AlertSelector): Promise<AlertRecord[]> {
    const repo = this.ds.getRepository(AlertStateEntity);
    if (selector && 'fingerprints' in selector) {
      if (!selector.fingerprints.length) return [];
      return await repo.find({ where: { state: 'firing', fingerprint: In(selector.fingerprints) } });
    }
    const qb = repo.createQueryBuilder('a').where('a.state = :state', { state: 'firing' });
    if (selector)
      qb.andWhere('(a.fingerprint = :p OR LEFT(a.fingerprint, :n) = :pc)', {
        p: selector.prefix,
        pc: `${selector.prefix}:`,
        n: selector.prefix.length + 1,
      });
    return await qb.orderBy('a.first_fired_at', 'ASC').getMany();
  }

  async list(): Promise<AlertRecord[]> {
    return await this.ds.getRepository(AlertStateEntity).find({ order: { firstFiredAt: 'ASC' } });
  }

  async remove(fingerprint: string): Promise<void> {
    await this.ds.getRepository(AlertStateEntity).delete({ fingerprint });
  }

  async pending(channel: OutboxChannel, limit: number): Promise<OutboxEntry[]> {
    const rows = (await this.ds.query(
      'SELECT id, fingerprint, alert FROM alert_outbox WHERE channel = ? AND relayed_at IS NULL ORDER BY id LIMIT ?',
      [channel, limit],
    )) as { id: string | number; fingerprint: string; alert: string }[];
    return rows.map((r) => ({ id: String(r.id), fingerprint: r.fingerprint, alert: JSON.parse(r.alert) as Alert }));
  }

  async relayed(id: string): Promise<void> {
    await this.ds.query('UPDATE alert_outbox SET relayed_at = UTC_TIMESTAMP(3), attempts = attempts + 1 WHERE id = ?', [
      id,
    ]);
  }

  async claim(id: string): Promise<boolean> {
    const res = (await this.ds.query(
      'UPDATE alert_outbox SET relayed_at = UTC_TIMESTAMP(3), attempts = attempts + 1 WHERE id = ? AND relayed_at IS NULL',
      [id],
    )) as { affectedRows?: number };
    return Boolean(res.affectedRows);
  }

  async release(id: string): Promise<void> {
    await this.ds.query('UPDATE alert_outbox SET relayed_at = NULL WHERE id = ?', [id]);
  }
}
