/**
 * A typed tasks service on a validated collection: a zod schema (any Standard Schema validator
 * works the same) defines the stored shape, with defaults and a transform; the service uses
 * `add` (generated ids), `update` (read-modify-write), `ifVersion` (an edit that must not
 * overwrite someone else's), `insert` (create-only), an index and a live query.
 *
 * Run with `node examples/tasks_service.ts`, `deno run -A examples/tasks_service.ts` or
 * `bun examples/tasks_service.ts`; `tests/tasks_service_example.test.ts` drives it.
 *
 * @module
 */

import { z } from "zod";
import {
  type Collection,
  Glen,
  TransactionConflictError,
  type TypedLiveQueryEvent,
} from "../mod.ts";

/** A stored task: the schema's output. */
export interface Task {
  title: string;
  done: boolean;
  priority: "low" | "normal" | "high";
  tags: string[];
  createdAtMs: number;
}

/** What the schema accepts: defaults fill the optional fields. */
export interface TaskInput {
  title: string;
  done?: boolean;
  priority?: "low" | "normal" | "high";
  tags?: string[];
  createdAtMs: number;
}

/** What `create` takes. */
export type NewTask = Omit<TaskInput, "createdAtMs">;

/**
 * The schema; zod checks that it matches the interfaces (`ZodType<Output, Input>`), and the
 * collection's types are inferred from it.
 */
export const taskSchema: z.ZodType<Task, TaskInput> = z.object({
  title: z.string().trim().min(1, "a task needs a title").max(200),
  done: z.boolean().default(false),
  priority: z.enum(["low", "normal", "high"]).default("normal"),
  tags: z.array(z.string().min(1)).max(10).default([]),
  createdAtMs: z.number().int().nonnegative(),
});

/** The tasks of one database. */
export class TasksService {
  readonly #tasks: Collection<Task, TaskInput>;
  readonly #db: Glen;

  private constructor(db: Glen) {
    this.#db = db;
    this.#tasks = db.collection("tasks", { schema: taskSchema });
  }

  /** The service over `db`, with its index. */
  static async open(db: Glen): Promise<TasksService> {
    const service = new TasksService(db);
    await service.#tasks.createIndex("byDone", "done");
    return service;
  }

  /** Creates a task under a new id; a `ValidationError` when the input is invalid. */
  async create(input: NewTask, nowMs: number = Date.now()): Promise<string> {
    return await this.#tasks.add({ ...input, createdAtMs: nowMs });
  }

  /** Creates a task under a caller-chosen id (an import); `"ALREADY_EXISTS"` if taken. */
  async importTask(id: string, input: NewTask, nowMs: number = Date.now()): Promise<void> {
    await this.#tasks.insert(id, { ...input, createdAtMs: nowMs });
  }

  /** A task with its version (for `rename`), or `undefined`. */
  get(id: string): { task: Task; version: number } | undefined {
    const doc = this.#tasks.getDoc(id);
    return doc && { task: doc.value, version: doc.version };
  }

  /** Marks a task done; `false` when there is no such task. Safe under concurrent calls. */
  async complete(id: string): Promise<boolean> {
    const { value } = await this.#tasks.update(id, (task) => task && { ...task, done: true });
    return value !== undefined;
  }

  /** Adds a tag (idempotent); `false` when there is no such task. */
  async tag(id: string, tag: string): Promise<boolean> {
    const { value } = await this.#tasks.update(id, (task) => {
      if (task === undefined || task.tags.includes(tag)) return task;
      return { ...task, tags: [...task.tags, tag] };
    });
    return value !== undefined;
  }

  /**
   * Renames a task the caller saw at `version`; `"conflict"` when someone changed it since
   * (the caller reloads and asks again).
   */
  async rename(id: string, title: string, version: number): Promise<"ok" | "conflict"> {
    const current = this.#tasks.get(id);
    if (current === undefined) return "conflict";
    try {
      await this.#tasks.put(id, { ...current, title }, { ifVersion: version });
      return "ok";
    } catch (error) {
      if (error instanceof TransactionConflictError) return "conflict";
      throw error;
    }
  }

  /** The open tasks, high priority first, then oldest first. */
  open(): Array<[string, Task]> {
    const rank = { high: 0, normal: 1, low: 2 } as const;
    return this.#tasks.findBy("byDone", false).sort(([, a], [, b]) =>
      rank[a.priority] - rank[b.priority] || a.createdAtMs - b.createdAtMs
    );
  }

  /** Moves every done task to the archive collection, atomically. */
  async archiveDone(): Promise<number> {
    const archive = this.#db.collection<Task>("archive"); // typed by the interface, no schema
    const { writes } = await this.#db.transactionWithInfo((tx) => {
      for (const [id, task] of this.#tasks.findBy("byDone", true)) {
        archive.in(tx).put(id, task);
        this.#tasks.in(tx).delete(id);
      }
    });
    return writes.filter((write) => write.deleted).length;
  }

  /** A live view of the open tasks. */
  watchOpen(signal?: AbortSignal): ReadableStream<TypedLiveQueryEvent<Task>> {
    return this.#tasks.liveQuery({ where: (task) => !task.done, signal });
  }
}

if (import.meta.main) {
  await using db = await Glen.open();
  const service = await TasksService.open(db);
  const write = await service.create({ title: "  Write the README  ", priority: "high" });
  await service.create({ title: "Review the pull request" });
  await service.complete(write);
  console.log("open:", service.open().map(([, task]) => task.title));
  const seen = service.get(write)!;
  console.log("rename:", await service.rename(write, "Write the docs", seen.version));
  console.log("stale rename:", await service.rename(write, "Too late", seen.version));
  try {
    await service.create({ title: "   " });
  } catch (error) {
    console.log("invalid:", (error as Error).message);
  }
  console.log("archived:", await service.archiveDone());
}
