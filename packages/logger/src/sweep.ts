import { unlinkSync } from 'node:fs';
import { listLogFiles } from './files.js';
import type { ProcessIdentity } from './claim.js';

/** Files of a process that is gone are kept this long after their last line (default). */
export const DEAD_PROCESS_RETENTION_MS = 7 * 86_400_000;

/**
 * Removes, in one channel folder, the files of processes that are gone (docs/contract.md §7):
 * a file whose series no living process holds and that nobody has written for `retentionMs`.
 * A living process's files are never touched here (it prunes its own), so nothing is deleted
 * under a writer. Returns the removed files' names.
 */
export function sweepDeadProcessFiles(
  channelDir: string,
  channel: string,
  identity: ProcessIdentity,
  retentionMs = DEAD_PROCESS_RETENTION_MS,
): string[] {
  const removed: string[] = [];
  const alive = new Map<string, boolean>();
  const now = Date.now();
  for (const f of listLogFiles(channelDir, channel)) {
    if (now - f.mtimeMs <= retentionMs) continue;
    let held = alive.get(f.process);
    if (held === undefined) alive.set(f.process, (held = identity.holds(f.process)));
    if (held) continue;
    try {
      unlinkSync(f.path);
      removed.push(f.file);
    } catch {
      /* another process swept it first */
    }
  }
  return removed;
}
