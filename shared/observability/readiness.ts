/**
 * What `/readyz` answers. A process is ready once it finished starting and
 * every registered check passes; each failing check contributes one reason,
 * so an operator (or a Kubernetes readiness probe's event) sees why.
 */
export interface ReadinessStatus {
  ready: boolean;
  reasons: string[];
  /** The ingester's part when several run for one connector: `standby` ones are ready too. */
  role?: 'leader' | 'standby';
}

/** A check returns undefined when fine, else the reason it is not. */
export type ReadinessCheck = () => string | undefined;

export class Readiness {
  readonly #checks: ReadinessCheck[] = [];
  #started = false;

  /** Adds a condition; checks are evaluated on every probe, never cached. */
  require(check: ReadinessCheck): void {
    this.#checks.push(check);
  }

  /** Called once startup is complete; until then the process reports `starting`. */
  started(): void {
    this.#started = true;
  }

  get isStarted(): boolean {
    return this.#started;
  }

  status(): ReadinessStatus {
    const reasons = this.#started ? [] : ['starting'];
    for (const check of this.#checks) {
      const reason = check();
      if (reason !== undefined) reasons.push(reason);
    }
    return { ready: reasons.length === 0, reasons };
  }
}
