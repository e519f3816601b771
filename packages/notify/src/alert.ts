import { z } from 'zod';

/**
 * The alert model: the original deployment's alert JSON plus the grouping fields
 * (docs/contract.md §6). What the alert engine (@pcs/monitor) decides to send, what the
 * `notifications` queue carries, and what every channel renders.
 */
export const alertSchema = z.object({
  timestamp: z.string().min(1).max(64),
  script: z.enum(['sync', 'cleanup', 'monitor']),
  level: z.enum(['ERROR', 'WARNING', 'INFO']),
  error_type: z.string().min(1).max(64),
  message: z.string().min(1).max(20_000),
  details: z.record(z.string(), z.unknown()).default({}),
  fingerprint: z.string().min(1).max(191),
  state: z.enum(['firing', 'resolved']).default('firing'),
});
export type Alert = z.output<typeof alertSchema>;
export type AlertLevel = Alert['level'];
export type AlertScript = Alert['script'];

/** "2024-01-15 10:30:00 UTC", the original deployment's timestamp format. */
export function alertTimestamp(d = new Date()): string {
  return `${d.toISOString().replace('T', ' ').slice(0, 19)} UTC`;
}

export function makeAlert(
  a: Omit<Alert, 'timestamp' | 'state' | 'details'> & Partial<Pick<Alert, 'timestamp' | 'state' | 'details'>>,
): Alert {
  return { timestamp: alertTimestamp(), state: 'firing', details: {}, ...a };
}
