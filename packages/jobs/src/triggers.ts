import { z } from 'zod';

/** Who asked for a run: the schedule, an operator (CLI or dashboard), a webhook, a test. */
export const triggerSchema = z.enum(['schedule', 'cli', 'webhook', 'dashboard', 'test']);
export type Trigger = z.output<typeof triggerSchema>;
