import { createHash } from 'node:crypto';
import type { Transporter } from 'nodemailer';
import { ApiError } from '@pcs/http';
import type { Alert } from './alert.js';
import { emojiOf } from './card.js';

/**
 * The email channel (e.g. Gmail over SMTP with an app password), off unless ALERT_EMAIL_TO and
 * SMTP_URL are set. Messages of one fingerprint thread together in mail clients through
 * Message-ID / In-Reply-To / References derived from the fingerprint.
 */
export interface EmailSettings {
  to: string[];
  from: string;
  smtpUrl: string;
}

function threadId(fingerprint: string): string {
  return `<pcs-alert-${createHash('sha256').update(fingerprint).digest('hex').slice(0, 32)}@pipedrive-chatwoot-sync>`;
}

export function renderEmail(alert: Alert): { subject: string; text: string } {
  const status = alert.state === 'resolved' ? 'RESOLVED' : alert.level;
  // A plain subject (mail filters match it); the level emoji opens the body.
  const subject = `[${status}] Pipedrive-Chatwoot Sync: ${alert.script} - ${alert.error_type}`;
  const details = Object.entries(alert.details ?? {}).map(
    ([k, v]) => `  ${k}: ${typeof v === 'string' ? v : JSON.stringify(v)}`,
  );
  const text = [
    `${emojiOf(alert)} ${alert.message}`,
    '',
    `Timestamp:  ${alert.timestamp}`,
    `Script:     ${alert.script}`,
    `Error type: ${alert.error_type}`,
    `Level:      ${status}`,
    ...(details.length ? ['Details:', ...details] : []),
    '',
    `Fingerprint: ${alert.fingerprint}`,
  ].join('\n');
  return { subject, text };
}

export class EmailChannel {
  /**
   * Made at the first message: nodemailer (and its SMTP and MIME modules, about 10 MB of a
   * process's memory) is loaded only by a process that sends email.
   */
  private transport: Promise<Transporter> | undefined;

  constructor(private readonly settings: EmailSettings) {}

  private open(): Promise<Transporter> {
    this.transport ??= import('nodemailer').then((m) => m.default.createTransport(this.settings.smtpUrl));
    this.transport.catch(() => (this.transport = undefined));
    return this.transport;
  }

  async send(alert: Alert): Promise<void> {
    const { subject, text } = renderEmail(alert);
    const root = threadId(alert.fingerprint);
    try {
      const transport = await this.open();
      await transport.sendMail({
        from: this.settings.from,
        to: this.settings.to,
        subject,
        text,
        // Every message of a fingerprint refers to the same root: mail clients thread them.
        inReplyTo: root,
        references: [root],
      });
    } catch (err) {
      const e = err as Error & { responseCode?: number; code?: string };
      // 4xx SMTP replies and connection problems pass; 5xx replies (bad recipient, auth) do not.
      const permanent = (e.responseCode !== undefined && e.responseCode >= 500) || e.code === 'EAUTH';
      throw new ApiError({
        api: 'email',
        type: permanent ? (e.code === 'EAUTH' ? 'auth' : 'bad_data') : 'transient',
        message: `email delivery failed: ${e.message}`,
      });
    }
  }

  close(): void {
    void this.transport?.then(
      (t) => t.close(),
      () => undefined,
    );
  }
}
