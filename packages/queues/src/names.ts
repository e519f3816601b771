/**
 * The four queues of a deployment (docs/contract.md §6). A leaf module with no imports, so that
 * the configuration can validate WORKER_QUEUES against it (`@pcs/queues/names`).
 */
export const QUEUE_NAMES = ['sync', 'cleanup', 'monitor', 'notifications'] as const;
export type QueueName = (typeof QUEUE_NAMES)[number];
