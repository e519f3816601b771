import type { Alert } from '@pcs/queues';

/** "2024-01-15 10:30:00 UTC", the original deployment's timestamp format. */
export function alertTimestamp(d = new Date()): string {
  return `${d.toISOString().replace('T', ' ').slice(0, 19)} UTC`;
}

export function makeAlert(
  a: Omit<Alert, 'timestamp' | 'state' | 'details'> & Partial<Pick<Alert, 'timestamp' | 'state' | 'details'>>,
): Alert {
  return { timestamp: alertTimestamp(), state: 'firing', details: {}, ...a };
}
