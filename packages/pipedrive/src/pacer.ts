/**
 * Keeps one process's Pipedrive requests within the token's burst limit (`x-ratelimit-limit`
 * requests per rolling 2-second window, docs: 20 to 120 by plan) instead of running into its 429s:
 * a 429 costs a wait of whole seconds (Retry-After), and an API-token integration that keeps
 * sending after 429s gets Cloudflare's 403 abuse block. With the pacer, concurrent listings
 * (persons and organizations, each reading its next page ahead) send back to back up to the limit
 * and no further.
 *
 * A slot is taken when a request is sent and held until its answer came back plus the window: the
 * server counted the request at its arrival, which is no later than the answer, so a request sent
 * a full window after an answer can never meet it in the server's window. The limit is learned
 * from the answers' `x-ratelimit-limit` (a plan change is followed); until the first answer, one
 * request at a time. An answer without the header leaves the requests unpaced. Other processes'
 * requests on the same token (the webhook jobs of other workers) are not seen here: a 429 they
 * cause still pauses every worker (sharedPauseHooks).
 */
export class BurstPacer {
  /** Requests allowed per window: undefined until the first answer; Infinity when answers carry no limit. */
  private limit: number | undefined;
  private inFlight = 0;
  /** When the answers of the requests still in the window came back (ascending). */
  private readonly answered: number[] = [];
  private readonly waiting: (() => void)[] = [];
  /** Background requests (a listing that may wait): a slot only when no other request waits. */
  private readonly waitingLow: (() => void)[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(
    readonly windowMs = 2_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** The burst limit learned from the answers (undefined before the first one). */
  get learnedLimit(): number | undefined {
    return this.limit;
  }

  /**
   * Waits for a slot in the window; every acquire is followed by exactly one release. `background`:
   * served only when no other request waits (one listing goes first, another fills the gaps).
   */
  acquire(background = false): Promise<void> {
    if (!this.waiting.length && !this.waitingLow.length && this.free()) {
      this.inFlight += 1;
      return Promise.resolve();
    }
    return new Promise<void>((resolve) => {
      (background ? this.waitingLow : this.waiting).push(resolve);
      this.pump();
    });
  }

  /**
   * The request's answer came back (or it ended without one): its slot stays taken for the window.
   * `limitHeader`: the answer's `x-ratelimit-limit`, when it had one; `answered`: false when no
   * answer came (nothing learned).
   */
  release(limitHeader: unknown, answered = true): void {
    this.inFlight = Math.max(0, this.inFlight - 1);
    // (no answer before any limit is known: nothing to pace by yet)
    if (answered || this.limit !== undefined) this.answered.push(this.now());
    if (answered) {
      const n = Number(Array.isArray(limitHeader) ? limitHeader[0] : limitHeader);
      if (Number.isInteger(n) && n > 0) this.limit = n;
      else if (this.limit === undefined && (limitHeader === undefined || limitHeader === null))
        this.limit = Number.POSITIVE_INFINITY;
    }
    this.pump();
  }

  private free(): boolean {
    const cutoff = this.now() - this.windowMs;
    let k = 0;
    while (k < this.answered.length && this.answered[k]! <= cutoff) k++;
    if (k) this.answered.splice(0, k);
    if (this.limit === Number.POSITIVE_INFINITY) return true;
    return this.inFlight + this.answered.length < (this.limit ?? 1);
  }

  private pump(): void {
    while ((this.waiting.length || this.waitingLow.length) && this.free()) {
      this.inFlight += 1;
      (this.waiting.length ? this.waiting : this.waitingLow).shift()!();
    }
    if ((!this.waiting.length && !this.waitingLow.length) || this.timer) return;
    // Full: a slot frees when the oldest answer leaves the window, or when a request in flight ends.
    const oldest = this.answered[0];
    if (oldest === undefined) return;
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        this.pump();
      },
      Math.max(1, oldest + this.windowMs - this.now() + 1),
    );
    this.timer.unref?.();
  }
}
