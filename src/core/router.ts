import type { Message, QoS } from './message.js';
import { parseShared } from './topic.js';

/** Called once a target has taken a message (persisted it, or handed it to its connection). */
export type Accepted = (err?: Error | null) => void;

/**
 * Something that receives the messages matching a filter: an MQTT session's
 * subscription, a STOMP subscription, a durable queue binding, an internal
 * listener. The router holds targets, never sockets.
 */
export interface RouteTarget {
  deliver(message: RoutedMessage, accepted: Accepted): void;
  /**
   * Subscriptions of one session share an owner: a message matching several of
   * them is delivered once, at the highest granted QoS, carrying every
   * subscription identifier [MQTT-3.3.4-2], [MQTT-3.3.4-4].
   */
  readonly owner?: object;
  /** Granted QoS of this subscription; defaults to 2 (no downgrade). */
  readonly qos?: QoS;
  /** MQTT 5 subscription identifier of this subscription. */
  readonly subscriptionId?: number;
  /**
   * A durable target (a queue in the store) must accept before the publisher
   * is acknowledged. Live targets are never awaited for their own sake (see
   * `RouterOptions.holdAbovePending` for the bounded hold a busy one causes).
   */
  readonly durable?: boolean;
  /**
   * True when the store already holds `message` for this target (a
   * persistent MQTT session's QoS 1/2 message): past the target's buffer it
   * is left there, for the session's next connection, instead of dropped.
   * Asked only past the buffer.
   */
  inStore?(message: RoutedMessage): boolean;
  /**
   * Ends the connection behind this target with the protocol's goodbye; the
   * `disconnect` slow-consumer policy calls it once. A target without it is
   * never disconnected, only dropped for.
   */
  disconnect?(reason: string): void;
  /** Who this target delivers to, as log fields (`proto`, `clientId`, `connId`…). */
  readonly consumer?: Readonly<Record<string, string>>;
}

/**
 * The connection a message was read from, as far as flow control needs it:
 * the router pauses reading from it while a target it feeds is too far
 * behind. An aedes client fits; so can a STOMP session.
 */
export interface PublisherFlow {
  pause(): void;
  resume(): void;
}

/** The message as one owner receives it: identifiers of every matching subscription. */
export type RoutedMessage = Message & { readonly subscriptionIds?: readonly number[] };

/**
 * What happens to a live target that has `maxPendingPerTarget` deliveries
 * outstanding (docs/limits.md). Either way further messages to it are
 * dropped (counted in `droppedSlow`), or left in the store when it holds
 * them (`RouteTarget.inStore`); `disconnect` also ends its connection once
 * it has stayed behind for `slowConsumerTimeoutMs`.
 */
export type SlowConsumerPolicy = 'drop' | 'disconnect';

/** What the router tells `RouterOptions.onSlowConsumer`. */
export type SlowConsumerEvent =
  /** Messages past the target's buffer since the last report (at most one per `overflowReportIntervalMs` and consumer). */
  | { readonly kind: 'overflow'; readonly target: RouteTarget; readonly dropped: number; readonly leftInStore: number }
  /** The `disconnect` policy is ending the target's connection. */
  | { readonly kind: 'disconnect'; readonly target: RouteTarget; readonly pending: number; readonly reason: string };

export interface RouterOptions {
  /**
   * A live target's buffer: deliveries it may have outstanding. Past it the
   * slow-consumer policy applies to every further message, whatever its QoS.
   */
  readonly maxPendingPerTarget: number;
  /**
   * A live target's buffer in bytes: the payloads and topic names of its
   * outstanding deliveries. Past it, as past `maxPendingPerTarget`, the
   * slow-consumer policy applies, except that a target with nothing
   * outstanding always takes one message, whatever its size. A target holds
   * back its publishers from half of it. Default: no bound in bytes.
   */
  readonly maxPendingBytesPerTarget?: number;
  /**
   * Outstanding deliveries above which a live target holds back its
   * publishers until it is back down to half this: the connection of a
   * publish that reaches it is paused (`PublisherFlow`), or, for a publish
   * without one, its `accepted` is deferred. Default 1,000, or half
   * `maxPendingPerTarget` when that is less: what is already in flight when
   * the hold starts must still fit in the buffer. Never more than
   * `maxPendingPerTarget`.
   */
  readonly holdAbovePending?: number;
  /**
   * A target that completes no delivery for this long while it holds
   * publishers is stalled: its held publishers are released, it holds no one
   * until it is back down to half `holdAbovePending`, and messages to it
   * past `maxPendingPerTarget` meet the slow-consumer policy. Default
   * 1,000 ms; checked every quarter of it.
   */
  readonly stallTimeoutMs?: number;
  /**
   * The longest a target holds its publishers at a stretch, however steadily
   * it progresses: past it the target is treated as stalled. Bounds how long
   * a publishing connection goes unread (its keepalive must not expire).
   * Default 2,000 ms, never less than `stallTimeoutMs`.
   */
  readonly maxHoldMs?: number;
  /** Default `drop`. */
  readonly slowConsumerPolicy?: SlowConsumerPolicy;
  /**
   * `disconnect` policy: how long a target may stay behind (from the first
   * message past its buffer until it is back down to half `holdAbovePending`)
   * before its connection is ended. Default 10,000 ms.
   */
  readonly slowConsumerTimeoutMs?: number;
  /** Told of overflows (at most once per interval and consumer) and disconnects, for the log. */
  readonly onSlowConsumer?: (event: SlowConsumerEvent) => void;
  /** Shortest time between two overflow reports of one consumer. Default 10,000 ms. */
  readonly overflowReportIntervalMs?: number;
  /** Milliseconds clock for the overflow reports; `Date.now` when absent. */
  readonly now?: () => number;
}

export interface RouterStats {
  /** Messages published into the router. */
  routed: number;
  /** Deliveries dropped because their target was past its buffer. */
  droppedSlow: number;
  /** Deliveries past a target's buffer left in the store for its next connection (`RouteTarget.inStore`). */
  leftInStore: number;
  /** Targets whose connection the `disconnect` policy ended. */
  disconnectedSlow: number;
  /** Times a busy live target held a publisher back (paused its connection, or deferred a publish). */
  held: number;
  /** Times a live target was found stalled (or held publishers for `maxHoldMs`) and let them go. */
  stalled: number;
}

const DEFAULT_MAX_PENDING = 10_000;
const DEFAULT_HOLD_ABOVE = 1_000;
const DEFAULT_STALL_TIMEOUT_MS = 1_000;
const DEFAULT_MAX_HOLD_MS = 2_000;
const DEFAULT_SLOW_CONSUMER_TIMEOUT_MS = 10_000;
const DEFAULT_OVERFLOW_REPORT_MS = 10_000;
const STALL_CHECKS_PER_TIMEOUT = 4;
const LEVELS_CACHE_SIZE = 4_096;
/** Targets on one trie node past which it keeps an index of them. */
const INDEXED_ABOVE = 16;

/** One publish whose acceptance waits for durable targets or several busy live ones. */
class Acceptance {
  #waiting = 1;
  #failure: Error | null = null;
  readonly #accepted: Accepted;
  /** Settles one wait; the publish is accepted when the last one settles, with the first error. */
  readonly settle: Accepted;

  constructor(accepted: Accepted) {
    this.#accepted = accepted;
    this.settle = (err) => {
      if (err && !this.#failure) this.#failure = err;
      if (--this.#waiting === 0) this.#accepted(this.#failure);
    };
  }

  /** Adds one wait and returns its settle. */
  join(): Accepted {
    this.#waiting++;
    return this.settle;
  }
}

/** What one publish has to wait for, gathered while it is routed. */
interface PublishRun {
  readonly accepted: Accepted;
  readonly from: PublisherFlow | undefined;
  acceptance: Acceptance | null;
  /** The first busy live target reached; waited on without an Acceptance when it is the only wait. */
  hold: Slot | null;
}

/** What a delivery of `message` holds in a consumer's buffer: its payload and topic name. */
function messageBytes(message: RoutedMessage): number {
  return message.payload.length + message.topic.length;
}

/** Messages past a consumer's buffer not yet reported; one per owner, so a session is logged as one. */
interface OverflowReport {
  dropped: number;
  leftInStore: number;
  lastAtMs: number;
}

function newReport(): OverflowReport {
  return { dropped: 0, leftInStore: 0, lastAtMs: -Infinity };
}

/** Per-owner count of subscribed targets: only owners with several need merging. */
interface OwnerRecord {
  targets: number;
  readonly report: OverflowReport;
}

/** The router's view of one target: its outstanding deliveries and held publishers. */
class Slot {
  readonly target: RouteTarget;
  readonly owner: OwnerRecord | undefined;
  /** Filters this target is subscribed under. */
  filters = 0;
  pending = 0;
  /** Bytes of the outstanding deliveries (0 without a byte bound); see `done`. */
  pendingBytes = 0;
  /** Completed deliveries, ever: the stall check compares it between ticks. */
  completed = 0;
  completedAtCheck = 0;
  idleChecks = 0;
  /** Stall checks since it started holding publishers. */
  heldChecks = 0;
  stalled = false;
  /** Settles of publishes held until this target drains; null when none. */
  waiters: Accepted[] | null = null;
  /** Publishing connections paused until this target drains; null when none. */
  paused: Set<PublisherFlow> | null = null;
  /** Its buffer: deliveries past this many outstanding meet the slow-consumer policy; 0 once it is being disconnected. */
  limit: number;
  /** `disconnect` policy: runs out while it stays behind; cleared once it is back down to the low-water mark. */
  behindTimer: ReturnType<typeof setTimeout> | undefined;
  readonly report: OverflowReport;
  /** The one completion callback every live delivery to this target gets. */
  readonly done: Accepted;

  constructor(target: RouteTarget, owner: OwnerRecord | undefined, drained: (slot: Slot) => void, lowWater: number, lowWaterBytes: number, limit: number) {
    this.target = target;
    this.owner = owner;
    this.limit = limit;
    this.report = owner?.report ?? newReport();
    this.done = () => {
      this.completed++;
      const pending = --this.pending;
      // One callback serves every delivery, and they may complete out of
      // order: the one that completed is taken to be of the average size.
      if (this.pendingBytes !== 0) this.pendingBytes = pending === 0 ? 0 : this.pendingBytes - this.pendingBytes / (pending + 1);
      if (pending <= lowWater && this.pendingBytes <= lowWaterBytes && (this.waiters !== null || this.paused !== null || this.stalled || this.behindTimer !== undefined)) {
        drained(this);
      }
    };
  }
}

interface SharedGroup {
  readonly members: Slot[];
  next: number;
}

class TrieNode {
  readonly children = new Map<string, TrieNode>();
  /** An array, not a Set: iterating a Set allocates an iterator on every publish. */
  readonly targets: Slot[] = [];
  /**
   * Where each target sits in `targets`, once there are enough of them that
   * a linear search would make subscribing many to one filter quadratic.
   */
  #at: Map<Slot, number> | null = null;
  readonly groups = new Map<string, SharedGroup>();

  add(slot: Slot): boolean {
    const targets = this.targets;
    if (this.#indexOf(slot) >= 0) return false;
    this.#at?.set(slot, targets.length);
    targets.push(slot);
    if (this.#at === null && targets.length > INDEXED_ABOVE) this.#at = new Map(targets.map((t, i) => [t, i]));
    return true;
  }

  delete(slot: Slot): boolean {
    const at = this.#indexOf(slot);
    if (at < 0) return false;
    this.#at?.delete(slot);
    const last = this.targets.pop() as Slot;
    if (last !== slot) {
      this.targets[at] = last;
      this.#at?.set(last, at);
    }
    return true;
  }

  #indexOf(slot: Slot): number {
    return this.#at === null ? this.targets.indexOf(slot) : (this.#at.get(slot) ?? -1);
  }

  isEmpty(): boolean {
    return this.children.size === 0 && this.targets.length === 0 && this.groups.size === 0;
  }
}

/**
 * The subscription trie: the one place subscriptions live, whatever protocol
 * made them. Matching walks only the branches a topic can reach.
 * `$share/<group>/<filter>` subscriptions are kept per group at the inner
 * filter's node, and each message goes to one member per group, in turn.
 *
 * Flow control: the router never waits for a live target to take a message.
 * A target with more than `holdAbovePending` deliveries outstanding holds
 * back the publishers that reach it (pauses their connections, or defers
 * `accepted` for a publish that names none) until it drains or is found
 * stalled; see `RouterOptions`. Past `maxPendingPerTarget` the slow-consumer
 * policy applies to it (`SlowConsumerPolicy`), so one consumer that stops
 * reading costs a bounded amount of memory and holds no one for long.
 */
export class Router {
  readonly #root = new TrieNode();
  readonly #slots = new Map<RouteTarget, Slot>();
  readonly #owners = new Map<object, OwnerRecord>();
  readonly #maxPending: number;
  readonly #holdAbove: number;
  readonly #lowWater: number;
  /** Infinity without a byte bound, and so are the two marks below. */
  readonly #maxPendingBytes: number;
  readonly #holdAboveBytes: number;
  readonly #lowWaterBytes: number;
  readonly #stallCheckMs: number;
  readonly #stallChecks: number;
  readonly #maxHoldChecks: number;
  readonly #disconnectSlow: boolean;
  readonly #slowTimeoutMs: number;
  readonly #onSlow: ((event: SlowConsumerEvent) => void) | undefined;
  readonly #reportMs: number;
  readonly #now: () => number;
  /** Slots that hold publishers (or were found stalled) and are watched for progress. */
  readonly #watched = new Set<Slot>();
  /** How many targets hold each paused connection; it resumes when none does. */
  readonly #pausedFlows = new Map<PublisherFlow, number>();
  #watchdog: NodeJS.Timeout | undefined;
  readonly #drained = (slot: Slot): void => {
    this.#caughtUp(slot);
    this.#release(slot, false);
  };
  /** Reused by non-nested publishes so routing a message allocates no match list. */
  readonly #scratch: Slot[] = [];
  #depth = 0;
  /** Recently published topic names, split into levels (read only). */
  readonly #levels = new Map<string, string[]>();
  readonly stats: RouterStats = { routed: 0, droppedSlow: 0, leftInStore: 0, disconnectedSlow: 0, held: 0, stalled: 0 };

  constructor(options: RouterOptions = { maxPendingPerTarget: DEFAULT_MAX_PENDING }) {
    this.#maxPending = options.maxPendingPerTarget;
    const holdAbove = options.holdAbovePending ?? Math.min(DEFAULT_HOLD_ABOVE, Math.floor(this.#maxPending / 2));
    this.#holdAbove = Math.max(1, Math.min(holdAbove, this.#maxPending));
    this.#lowWater = Math.floor(this.#holdAbove / 2);
    this.#maxPendingBytes = options.maxPendingBytesPerTarget ?? Infinity;
    this.#holdAboveBytes = this.#maxPendingBytes / 2;
    this.#lowWaterBytes = this.#maxPendingBytes / 4;
    const stallMs = options.stallTimeoutMs ?? DEFAULT_STALL_TIMEOUT_MS;
    this.#stallCheckMs = Math.max(1, Math.ceil(stallMs / STALL_CHECKS_PER_TIMEOUT));
    this.#stallChecks = Math.max(1, Math.ceil(stallMs / this.#stallCheckMs));
    const maxHoldMs = Math.max(stallMs, options.maxHoldMs ?? DEFAULT_MAX_HOLD_MS);
    this.#maxHoldChecks = Math.max(this.#stallChecks, Math.ceil(maxHoldMs / this.#stallCheckMs));
    this.#disconnectSlow = options.slowConsumerPolicy === 'disconnect';
    this.#slowTimeoutMs = options.slowConsumerTimeoutMs ?? DEFAULT_SLOW_CONSUMER_TIMEOUT_MS;
    this.#onSlow = options.onSlowConsumer;
    this.#reportMs = options.overflowReportIntervalMs ?? DEFAULT_OVERFLOW_REPORT_MS;
    this.#now = options.now ?? Date.now;
  }

  /** Adds `target` under `filter` (which may be a `$share` filter). The filter must already be valid. */
  subscribe(filter: string, target: RouteTarget): void {
    const shared = parseShared(filter);
    const node = this.#nodeFor(shared ? shared.filter : filter, true) as TrieNode;
    const slot = this.#slotFor(target);
    if (!shared) {
      if (node.add(slot)) slot.filters++;
      return;
    }
    let group = node.groups.get(shared.group);
    if (!group) {
      group = { members: [], next: 0 };
      node.groups.set(shared.group, group);
    }
    if (!group.members.includes(slot)) {
      group.members.push(slot);
      slot.filters++;
    }
  }

  /** Removes `target` from `filter`; a no-op when it was not there. */
  unsubscribe(filter: string, target: RouteTarget): void {
    const slot = this.#slots.get(target);
    if (!slot) return;
    const shared = parseShared(filter);
    const levels = (shared ? shared.filter : filter).split('/');
    const path: TrieNode[] = [this.#root];
    let node: TrieNode | undefined = this.#root;
    for (const level of levels) {
      node = node.children.get(level);
      if (!node) return;
      path.push(node);
    }
    let removed = false;
    if (!shared) {
      removed = node.delete(slot);
    } else {
      const group = node.groups.get(shared.group);
      if (group) {
        const at = group.members.indexOf(slot);
        if (at >= 0) {
          group.members.splice(at, 1);
          removed = true;
        }
        if (group.members.length === 0) node.groups.delete(shared.group);
      }
    }
    if (removed && --slot.filters === 0) this.#forget(slot);
    // Prune empty branches so churn of unique topics does not leak nodes.
    for (let i = path.length - 1; i > 0; i--) {
      const child = path[i] as TrieNode;
      if (!child.isEmpty()) break;
      (path[i - 1] as TrieNode).children.delete(levels[i - 1] as string);
    }
  }

  /**
   * Routes `message` to every matching target. `accepted` runs once every
   * durable target has taken it; live targets are handed the message and not
   * awaited. A live target that is too far behind holds the publisher back
   * (see `RouterOptions.holdAbovePending`): `from`, the connection the
   * message came from, is paused until the target drains or stalls; without
   * `from`, `accepted` waits for that instead.
   */
  publish(message: Message, accepted: Accepted, from?: PublisherFlow): void {
    this.stats.routed++;
    const matches = this.#depth === 0 ? this.#scratch : [];
    this.#depth++;
    const run: PublishRun = { accepted, from, acceptance: null, hold: null };
    try {
      this.#collect(message.topic, matches);
      let merge = false;
      for (let i = 0; i < matches.length; i++) {
        const slot = matches[i] as Slot;
        // An owner with a single subscription cannot match twice.
        if (slot.owner !== undefined && slot.owner.targets > 1) {
          merge = true;
          continue;
        }
        const id = slot.target.subscriptionId;
        this.#deliver(slot, id === undefined ? message : withIds(message, [id]), run);
      }
      if (merge) this.#deliverMerged(matches, message, run);
    } finally {
      matches.length = 0;
      this.#depth--;
    }
    const { acceptance, hold } = run;
    // The common held case, one busy target and nothing durable, waits on `accepted` itself.
    if (hold !== null) this.#hold(hold, acceptance === null ? accepted : acceptance.join());
    if (acceptance !== null) acceptance.settle();
    else if (hold === null) accepted();
  }

  #deliver(slot: Slot, message: RoutedMessage, run: PublishRun): void {
    if (slot.target.durable) {
      run.acceptance ??= new Acceptance(run.accepted);
      slot.target.deliver(message, run.acceptance.join());
      return;
    }
    const bytes = this.#maxPendingBytes === Infinity ? 0 : messageBytes(message);
    if (slot.pending < slot.limit && (slot.pending === 0 || slot.pendingBytes + bytes <= this.#maxPendingBytes)) {
      slot.pending++;
      slot.pendingBytes += bytes;
      slot.target.deliver(message, slot.done);
    } else {
      this.#overflow(slot, message);
    }
    if ((slot.pending >= this.#holdAbove || slot.pendingBytes >= this.#holdAboveBytes) && !slot.stalled) {
      if (run.from !== undefined) {
        // A session's own subscription never pauses it: its acknowledgements must still be read.
        if (slot.target.owner !== run.from) this.#pause(slot, run.from);
      } else if (run.hold === null) {
        run.hold = slot;
      } else {
        run.acceptance ??= new Acceptance(run.accepted);
        this.#hold(slot, run.acceptance.join());
      }
    }
  }

  /** `message` meets a target past its buffer: dropped, or left in the store that holds it. */
  #overflow(slot: Slot, message: RoutedMessage): void {
    const report = slot.report;
    if (slot.target.inStore?.(message) === true) {
      this.stats.leftInStore++;
      report.leftInStore++;
    } else {
      this.stats.droppedSlow++;
      report.dropped++;
    }
    if (this.#disconnectSlow && slot.behindTimer === undefined && slot.limit > 0 && slot.target.disconnect !== undefined) {
      slot.behindTimer = setTimeout(() => this.#disconnect(slot), this.#slowTimeoutMs);
      slot.behindTimer.unref();
    }
    const now = this.#now();
    if (now - report.lastAtMs >= this.#reportMs) {
      report.lastAtMs = now;
      this.#report(slot.target, report);
    }
  }

  #report(target: RouteTarget, report: OverflowReport): void {
    const { dropped, leftInStore } = report;
    report.dropped = report.leftInStore = 0;
    if (dropped + leftInStore > 0) this.#onSlow?.({ kind: 'overflow', target, dropped, leftInStore });
  }

  /** The `disconnect` policy: `slot` stayed behind for the whole timeout. */
  #disconnect(slot: Slot): void {
    slot.behindTimer = undefined;
    // Nothing more goes to this consumer (any of its subscriptions) while its connection ends.
    const owner = slot.owner;
    if (owner === undefined) {
      this.#stopFeeding(slot);
    } else {
      for (const other of this.#slots.values()) if (other.owner === owner) this.#stopFeeding(other);
    }
    this.stats.disconnectedSlow++;
    const full = slot.pending >= this.#maxPending ? `${this.#maxPending} messages` : `${this.#maxPendingBytes} bytes`;
    const reason = `buffer of ${full} full for ${this.#slowTimeoutMs} ms`;
    this.#onSlow?.({ kind: 'disconnect', target: slot.target, pending: slot.pending, reason });
    slot.target.disconnect?.(reason);
  }

  /** Its connection is ending: nothing more is handed to it, and it holds no publisher back. */
  #stopFeeding(slot: Slot): void {
    slot.limit = 0;
    this.#caughtUp(slot);
    this.#release(slot, true);
  }

  /** Back down to the low-water mark: no longer behind. */
  #caughtUp(slot: Slot): void {
    if (slot.behindTimer === undefined) return;
    clearTimeout(slot.behindTimer);
    slot.behindTimer = undefined;
  }

  #pause(slot: Slot, flow: PublisherFlow): void {
    const paused = (slot.paused ??= new Set());
    if (paused.has(flow)) return;
    paused.add(flow);
    this.stats.held++;
    const holds = this.#pausedFlows.get(flow) ?? 0;
    this.#pausedFlows.set(flow, holds + 1);
    if (holds === 0) flow.pause();
    this.#watch(slot);
  }

  #hold(slot: Slot, settle: Accepted): void {
    this.stats.held++;
    (slot.waiters ??= []).push(settle);
    this.#watch(slot);
  }

  /** For owners with several subscriptions: one delivery per owner, at the highest QoS, with every identifier. */
  #deliverMerged(matches: Slot[], message: Message, run: PublishRun): void {
    const byOwner = new Map<OwnerRecord, { best: Slot; ids: number[] }>();
    for (const slot of matches) {
      const owner = slot.owner;
      if (owner === undefined || owner.targets <= 1) continue;
      const id = slot.target.subscriptionId;
      const seen = byOwner.get(owner);
      if (!seen) {
        byOwner.set(owner, { best: slot, ids: id === undefined ? [] : [id] });
        continue;
      }
      if ((slot.target.qos ?? 2) > (seen.best.target.qos ?? 2)) seen.best = slot;
      if (id !== undefined && !seen.ids.includes(id)) seen.ids.push(id);
    }
    for (const { best, ids } of byOwner.values()) this.#deliver(best, ids.length > 0 ? withIds(message, ids) : message, run);
  }

  #watch(slot: Slot): void {
    if (this.#watched.has(slot)) return;
    slot.completedAtCheck = slot.completed;
    slot.idleChecks = 0;
    slot.heldChecks = 0;
    this.#watched.add(slot);
    if (this.#watchdog === undefined) {
      this.#watchdog = setInterval(() => this.#checkStalls(), this.#stallCheckMs);
      this.#watchdog.unref();
    }
  }

  #checkStalls(): void {
    for (const slot of this.#watched) {
      const progressed = slot.completed !== slot.completedAtCheck;
      slot.completedAtCheck = slot.completed;
      slot.idleChecks = progressed ? 0 : slot.idleChecks + 1;
      if (slot.idleChecks >= this.#stallChecks || ++slot.heldChecks >= this.#maxHoldChecks) {
        this.stats.stalled++;
        this.#release(slot, true);
      }
    }
  }

  /** Lets the publishers held by `slot` go; `stalled` marks it as holding no one until it drains. */
  #release(slot: Slot, stalled: boolean): void {
    slot.stalled = stalled;
    this.#letGo(slot);
  }

  #letGo(slot: Slot): void {
    this.#unwatch(slot);
    const waiters = slot.waiters;
    const paused = slot.paused;
    slot.waiters = null;
    slot.paused = null;
    if (paused !== null) {
      for (const flow of paused) {
        const holds = (this.#pausedFlows.get(flow) ?? 1) - 1;
        if (holds > 0) {
          this.#pausedFlows.set(flow, holds);
        } else {
          this.#pausedFlows.delete(flow);
          flow.resume();
        }
      }
    }
    if (waiters !== null) for (const settle of waiters) settle();
  }

  #unwatch(slot: Slot): void {
    this.#watched.delete(slot);
    if (this.#watched.size === 0 && this.#watchdog !== undefined) {
      clearInterval(this.#watchdog);
      this.#watchdog = undefined;
    }
  }

  #slotFor(target: RouteTarget): Slot {
    let slot = this.#slots.get(target);
    if (slot) return slot;
    let owner: OwnerRecord | undefined;
    if (target.owner !== undefined) {
      owner = this.#owners.get(target.owner);
      if (!owner) {
        owner = { targets: 0, report: newReport() };
        this.#owners.set(target.owner, owner);
      }
      owner.targets++;
    }
    slot = new Slot(target, owner, this.#drained, this.#lowWater, this.#lowWaterBytes, this.#maxPending);
    this.#slots.set(target, slot);
    return slot;
  }

  /** The target has no filter left: publishers held on it go, its owner count drops, its last overflows are reported. */
  #forget(slot: Slot): void {
    this.#slots.delete(slot.target);
    this.#caughtUp(slot);
    const owner = slot.owner;
    if (owner === undefined || --owner.targets === 0) {
      if (owner !== undefined) this.#owners.delete(slot.target.owner as object);
      this.#report(slot.target, slot.report);
    }
    this.#letGo(slot);
  }

  #collect(topic: string, out: Slot[]): void {
    // Devices publish to the same topics over and over: split each once.
    let levels = this.#levels.get(topic);
    if (levels === undefined) {
      if (this.#levels.size >= LEVELS_CACHE_SIZE) this.#levels.clear();
      levels = topic.split('/');
      this.#levels.set(topic, levels);
    }
    // [MQTT-4.7.2-1] wildcards at the first level do not match `$` topics.
    const dollar = topic.charCodeAt(0) === 0x24;
    this.#walk(this.#root, levels, 0, dollar, out);
  }

  #walk(node: TrieNode, levels: string[], depth: number, dollar: boolean, out: Slot[]): void {
    const wildOk = !(dollar && depth === 0);
    if (wildOk) {
      const hash = node.children.get('#');
      // `#` matches the parent level too: `a/#` matches `a` [MQTT-4.7.1-2].
      if (hash) this.#take(hash, out);
    }
    if (depth === levels.length) {
      this.#take(node, out);
      return;
    }
    const level = levels[depth] as string;
    const exact = node.children.get(level);
    if (exact) this.#walk(exact, levels, depth + 1, dollar, out);
    if (wildOk) {
      const plus = node.children.get('+');
      if (plus) this.#walk(plus, levels, depth + 1, dollar, out);
    }
  }

  #take(node: TrieNode, out: Slot[]): void {
    const targets = node.targets;
    for (let i = 0; i < targets.length; i++) out.push(targets[i] as Slot);
    if (node.groups.size === 0) return;
    for (const group of node.groups.values()) {
      const members = group.members;
      if (members.length === 0) continue;
      const pick = members[group.next % members.length] as Slot;
      group.next = (group.next + 1) % members.length;
      out.push(pick);
    }
  }

  #nodeFor(filter: string, create: boolean): TrieNode | undefined {
    let node = this.#root;
    for (const level of filter.split('/')) {
      let child = node.children.get(level);
      if (!child) {
        if (!create) return undefined;
        child = new TrieNode();
        node.children.set(level, child);
      }
      node = child;
    }
    return node;
  }

  /** True when `$share/<group>/<filter>` has at least one subscriber now. */
  hasSharedSubscriber(group: string, filter: string): boolean {
    return (this.#nodeFor(filter, false)?.groups.get(group)?.members.length ?? 0) > 0;
  }

  /** Number of (filter, target) pairs held, shared members included. */
  get size(): number {
    let count = 0;
    const visit = (node: TrieNode): void => {
      count += node.targets.length;
      for (const group of node.groups.values()) count += group.members.length;
      for (const child of node.children.values()) visit(child);
    };
    visit(this.#root);
    return count;
  }
}

function withIds(message: Message, ids: readonly number[]): RoutedMessage {
  return { ...message, subscriptionIds: ids };
}
