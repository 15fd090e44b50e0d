/**
 * The contract every benchmark scenario meets. `bench/run.ts` lists the
 * scenarios, parses the command line, and prints one JSON line per result.
 */

export interface BenchOptions {
  /** Broker host when measuring an already running broker; scenarios that start their own ignore it. */
  readonly host: string;
  /** Broker MQTT port when measuring an already running broker; undefined means the scenario starts its targets. */
  readonly port: number | undefined;
  /** Upper bound on one measured phase, ms. */
  readonly durationMs: number;
  /** Also run the reference targets (bare aedes, mosquitto when installed) in the same run. */
  readonly compare: boolean;
  /** Scenario-specific flags, as given (`--kill` → { kill: true }). */
  readonly extra: Readonly<Record<string, string | boolean>>;
}

/** One measured figure set for one target; printed as one JSON line. */
export interface BenchResult {
  readonly scenario: string;
  /** What was measured: `roost`, `aedes`, `mosquitto`, `aedes-persistence-level`, … */
  readonly target: string;
  /** Named figures, each with its unit in the name (`deliveredPerSec`, `p99Ms`, `rssBytes`). */
  readonly figures: Readonly<Record<string, number>>;
  /** What limited the run, when known (CPU shares of generator and broker, …). */
  readonly notes?: Readonly<Record<string, string | number>>;
}

export interface Scenario {
  readonly name: string;
  readonly description: string;
  run(options: BenchOptions): Promise<BenchResult[]>;
}
