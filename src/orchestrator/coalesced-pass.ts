/**
 * One pass at a time over shared state (the queue, the outbox). A call during a pass
 * shares it and makes it run once more at its end, so what was recorded meanwhile is
 * not left for the next poll.
 */
export class CoalescedPass {
  private running: Promise<number> | null = null;
  private again = false;

  constructor(private readonly pass: () => Promise<number>) {}

  /** The pass in progress, if any (to wait for it on stop). */
  get current(): Promise<number> | null {
    return this.running;
  }

  /** Runs the pass (or joins the one running); resolves with the total of the passes it covered. */
  run(): Promise<number> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      let total = 0;
      do {
        this.again = false;
        total += await this.pass();
      } while (this.again);
      return total;
    })().finally(() => {
      this.running = null;
    });
    return this.running;
  }
}
