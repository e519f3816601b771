import type { Alert } from '@pcs/notify/alert';
import type { AlertRecord, Decision } from './decide.js';

/** Where an outbox entry goes: `queue` (a worker relays it to the notifications queue), `direct` (the dashboard watchdog posts it). */
export type OutboxChannel = 'queue' | 'direct';

export interface OutboxEntry {
  id: string;
  fingerprint: string;
  alert: Alert;
}

/** Which alerts to list: every one, some fingerprints, or a fingerprint and its sub-fingerprints (`p` and `p:…`). */
export type AlertSelector = { fingerprints: string[] } | { prefix: string };

/**
 * Where alert state lives (MySQL; Redis while MySQL is down; memory for the dashboard watchdog
 * when both are away). Every store gives the same guarantee: `transact` holds the fingerprint
 * exclusively across processes, and stores the new state and the message it owes together.
 */
export interface AlertStore {
  readonly name: 'mysql' | 'redis' | 'memory';
  /**
   * Locks one fingerprint, hands its record to `decide` and stores the result (state and outbox
   * entry) as one unit. `create`: the fingerprint may be new (a firing condition).
   */
  transact(
    fingerprint: string,
    create: boolean,
    decide: (prev: AlertRecord | undefined) => Decision,
    channel: OutboxChannel,
  ): Promise<Decision>;
  get(fingerprint: string): Promise<AlertRecord | undefined>;
  /** Firing alerts (of the selector, when given). */
  firing(selector?: AlertSelector): Promise<AlertRecord[]>;
  /** Every record (the CLI's `alerts` list). */
  list(): Promise<AlertRecord[]>;
  /** Forgets a fingerprint (a fallback store hands it back to the primary). */
  remove(fingerprint: string): Promise<void>;
  /** Outbox entries not relayed yet, oldest first. */
  pending(channel: OutboxChannel, limit: number): Promise<OutboxEntry[]>;
  relayed(id: string): Promise<void>;
  /** Marks an entry relayed only if nobody did yet; true for the one caller that did. */
  claim(id: string): Promise<boolean>;
  /** Undoes a claim whose delivery failed. */
  release(id: string): Promise<void>;
}

export function matches(fingerprint: string, selector: AlertSelector | undefined): boolean {
  if (!selector) return true;
  if ('fingerprints' in selector) return selector.fingerprints.includes(fingerprint);
  return fingerprint === selector.prefix || fingerprint.startsWith(`${selector.prefix}:`);
}
