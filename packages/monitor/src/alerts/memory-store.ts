import { randomUUID } from 'node:crypto';
import type { AlertRecord, Decision } from './decide.js';
import { matches, type AlertSelector, type AlertStore, type OutboxChannel, type OutboxEntry } from './store.js';

/**
 * Alert state in this process only: the dashboard watchdog's last resort, when neither the
 * database nor Redis answers (one dashboard then speaks for itself). Evaluations of one
 * fingerprint are serialized by a promise chain.
 */
export class MemoryAlertStore implements AlertStore {
  readonly name = 'memory' as const;
  private readonly records = new Map<string, AlertRecord>();
  private readonly outbox: (OutboxEntry & { channel: OutboxChannel })[] = [];
  private readonly locks = new Map<string, Promise<unknown>>();

  async transact(
    fingerprint: string,
    _create: boolean,
    decide: (prev: AlertRecord | undefined) => Decision,
    channel: OutboxChannel,
  ): Promise<Decision> {
    const before = this.locks.get(fingerprint) ?? Promise.resolve();
    const run = before.then(() => {
      const d = decide(this.records.get(fingerprint));
      if (d.next) this.records.set(fingerprint, d.next);
      if (d.notify) this.outbox.push({ id: randomUUID(), fingerprint, alert: d.notify, channel });
      return d;
    });
    this.locks.set(
      fingerprint,
      run.catch(() => undefined),
    );
    return run;
  }

  async get(fingerprint: string): Promise<AlertRecord | undefined> {
    return this.records.get(fingerprint);
  }

  async firing(selector?: AlertSelector): Promise<AlertRecord[]> {
    return [...this.records.values()].filter((r) => r.state === 'firing' && matches(r.fingerprint, selector));
  }

  async list(): Promise<AlertRecord[]> {
    return [...this.records.values()];
  }

  async remove(fingerprint: string): Promise<void> {
    this.records.delete(fingerprint);
  }

  async pending(channel: OutboxChannel, limit: number): Promise<OutboxEntry[]> {
    return this.outbox.filter((e) => e.channel === channel).slice(0, limit);
  }

  async relayed(id: string): Promise<void> {
    const i = this.outbox.findIndex((e) => e.id === id);
    if (i >= 0) this.outbox.splice(i, 1);
  }

  private readonly claimed = new Map<string, OutboxEntry & { channel: OutboxChannel }>();

  async claim(id: string): Promise<boolean> {
    const i = this.outbox.findIndex((e) => e.id === id);
    if (i < 0) return false;
    this.claimed.set(id, this.outbox.splice(i, 1)[0]!);
    return true;
  }

  async release(id: string): Promise<void> {
    const entry = this.claimed.get(id);
    if (entry) this.outbox.unshift(entry);
    this.claimed.delete(id);
  }
}
