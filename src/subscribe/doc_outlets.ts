/**
 * The outlets that follow one document: whole-document events (`subscribe`), the value at a
 * path (`subscribeField`) and its delta (`subscribeFieldDelta`).
 *
 * Overflow policy: these streams coalesce. A document stream that falls `capacity` events behind
 * drops its queue and keeps only the newest event (the consumer sees a version gap but always the
 * final state). A field or delta stream merges its queue into one change from the value the
 * consumer last saw to the newest one (nothing at all if they are equal), so the final value is
 * always delivered and a delta still applies to what the consumer holds.
 *
 * @module
 */

import type { WriteOp } from "../engine/types.ts";
import { containsBytes } from "../value/freeze.ts";
import type { Value } from "../value/value.ts";
import {
  type DeltaEvent,
  deltaOf,
  type DocEvent,
  type FieldEvent,
  type FieldPath,
  sameValue,
  userValue,
  valueAt,
} from "./events.ts";
import { Outlet } from "./outlet.ts";

/** One acknowledged write of a document, as the hub hands it to that document's outlets. */
export interface DocChange {
  /** The commit's LSN. */
  readonly lsn: number;
  /** The write. */
  readonly op: WriteOp;
  /** The stored value before the write (`undefined`: absent or deleted). */
  readonly previous: Value | undefined;
  /** Whether `op.value` holds bytes (computed once per write, not per subscriber). */
  readonly hasBytes: boolean;
}

/** An outlet registered under one (collection, docId). */
export interface DocListener {
  /** A committed write of the document. */
  onWrite(change: DocChange): void;
  /** Ends the stream after what is queued (database close). */
  end(): void;
}

/** Where a document outlet registers, and how it leaves. */
export interface DocTarget {
  readonly collection: string;
  readonly docId: string;
  /** Events of commits with LSN ≤ this are already reflected in an `initial` event. */
  readonly skipThroughLsn: number;
  readonly detach: (listener: DocListener) => void;
}

/** `subscribe()`: whole-document events, coalescing to the newest. */
export class DocOutlet extends Outlet<DocChange | DocEvent, DocEvent> implements DocListener {
  readonly #target: DocTarget;

  constructor(target: DocTarget, capacity: number, signal: AbortSignal | undefined) {
    super(capacity, signal);
    this.#target = target;
  }

  /** Queues the current state (for `initial: true`). */
  offerInitial(event: DocEvent): void {
    this.offer(event);
  }

  onWrite(change: DocChange): void {
    if (change.lsn > this.#target.skipThroughLsn) this.offer(change);
  }

  protected overflow(_queue: Array<DocChange | DocEvent>, incoming: DocChange): DocChange[] {
    return [incoming];
  }

  protected toEvent(item: DocChange | DocEvent): DocEvent {
    if (!("op" in item)) return item;
    const { op, hasBytes, previous } = item;
    const event: DocEvent = {
      collection: op.collection,
      docId: op.docId,
      version: op.version,
      value: userValue(op.value, hasBytes),
      deleted: op.value === undefined,
    };
    if (op.value !== undefined || previous === undefined) return event;
    return { ...event, oldValue: userValue(previous, true) };
  }

  protected detach(): void {
    this.#target.detach(this);
  }
}

/** A change of the value at a path (values still shared with the store). */
interface FieldChange {
  readonly version: number;
  readonly oldValue: Value | undefined;
  readonly newValue: Value | undefined;
  readonly hasBytes: boolean;
}

/** Common part of the field and delta outlets: extraction, filtering and coalescing. */
abstract class FieldOutletBase<Event> extends Outlet<FieldChange, Event> implements DocListener {
  protected readonly target: DocTarget;
  protected readonly path: FieldPath;
  readonly #segments: readonly string[];

  constructor(
    target: DocTarget,
    path: { given: FieldPath; segments: readonly string[] },
    options: { capacity: number; signal: AbortSignal | undefined },
  ) {
    super(options.capacity, options.signal);
    this.target = target;
    this.path = path.given;
    this.#segments = path.segments;
  }

  /** Queues the current state (for `initial: true`). */
  offerInitial(version: number, value: Value | undefined, hasBytes: boolean): void {
    const current = valueAt(value, this.#segments);
    this.offerCurrent(version, current, hasBytes);
  }

  /** How the initial state is announced. */
  protected abstract offerCurrent(
    version: number,
    current: Value | undefined,
    hasBytes: boolean,
  ): void;

  /** Queues a change. */
  protected offerChange(change: FieldChange): void {
    this.offer(change);
  }

  onWrite(change: DocChange): void {
    if (change.lsn <= this.target.skipThroughLsn) return;
    const oldValue = valueAt(change.previous, this.#segments);
    const newValue = valueAt(change.op.value, this.#segments);
    if (sameValue(oldValue, newValue)) return;
    this.offer({
      version: change.op.version,
      oldValue,
      newValue,
      hasBytes: change.hasBytes || (oldValue !== undefined && containsBytes(oldValue)),
    });
  }

  protected overflow(queue: FieldChange[], incoming: FieldChange): FieldChange[] {
    const first = queue[0]!;
    if (sameValue(first.oldValue, incoming.newValue)) return [];
    return [{
      version: incoming.version,
      oldValue: first.oldValue,
      newValue: incoming.newValue,
      hasBytes: first.hasBytes || incoming.hasBytes,
    }];
  }

  protected detach(): void {
    this.target.detach(this);
  }
}

/** `subscribeField()`: the old and new value at a path, only when it changes. */
export class FieldOutlet extends FieldOutletBase<FieldEvent> {
  protected offerCurrent(version: number, current: Value | undefined, hasBytes: boolean): void {
    this.offerChange({ version, oldValue: undefined, newValue: current, hasBytes });
  }

  protected toEvent(item: FieldChange): FieldEvent {
    return {
      collection: this.target.collection,
      docId: this.target.docId,
      version: item.version,
      path: this.path,
      oldValue: userValue(item.oldValue, item.hasBytes),
      newValue: userValue(item.newValue, item.hasBytes),
    };
  }
}

/** `subscribeFieldDelta()`: how the value at a path changed. */
export class DeltaOutlet extends FieldOutletBase<DeltaEvent> {
  protected offerCurrent(version: number, current: Value | undefined, hasBytes: boolean): void {
    if (current !== undefined) {
      this.offerChange({ version, oldValue: undefined, newValue: current, hasBytes });
    }
  }

  protected toEvent(item: FieldChange): DeltaEvent {
    return {
      collection: this.target.collection,
      docId: this.target.docId,
      version: item.version,
      path: this.path,
      delta: deltaOf(item.oldValue, item.newValue, item.hasBytes),
    };
  }
}
