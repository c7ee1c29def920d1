/**
 * Live changes to a browser as Server-Sent Events, on Deno, Bun and Node alike (`node:http`).
 *
 * ```sh
 * node examples/sse_server.ts          # or: deno run -A examples/sse_server.ts, bun examples/sse_server.ts
 * # open http://127.0.0.1:8787/ and, in another terminal:
 * curl -X PUT -d '{"text":"hi"}' http://127.0.0.1:8787/docs/messages/m1
 * ```
 *
 * `GET /events?collection=messages` streams the change feed of one collection as SSE. Each event
 * carries the commit's LSN as its SSE `id`, so when the connection drops the browser's
 * `EventSource` reconnects with `Last-Event-ID` and the server resumes with
 * `db.changes({ since })` — no change is lost while the network is down (within what the database
 * still keeps; otherwise the server sends an `expired` event and the page reloads its data). A
 * client that stops reading is dropped by the feed's overflow policy instead of holding memory.
 *
 * @module
 */

import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { type ChangeEvent, CursorExpiredError, Glen, type Value } from "../mod.ts";

/** A running example server. */
export interface SseServer {
  /** The port it listens on (loopback). */
  readonly port: number;
  /** Ends every event stream and stops listening. */
  close(): Promise<void>;
}

/**
 * Turns change events into the bytes of an SSE stream (`id:` = LSN, `data:` = JSON; bigints as
 * strings, bytes as arrays of numbers).
 *
 * @example
 * ```ts
 * import { SseEncoderStream } from "./sse_server.ts";
 *
 * const sse = ReadableStream.from([{ lsn: 1, changes: [] }]).pipeThrough(new SseEncoderStream());
 * ```
 */
export class SseEncoderStream extends TransformStream<ChangeEvent, Uint8Array> {
  constructor() {
    const encoder = new TextEncoder();
    super({
      start(controller) {
        controller.enqueue(encoder.encode(": connected\n\n"));
      },
      transform(event, controller) {
        const data = JSON.stringify(event.changes, toJson);
        controller.enqueue(encoder.encode(`id: ${event.lsn}\nevent: change\ndata: ${data}\n\n`));
      },
    });
  }
}

function toJson(_key: string, value: unknown): unknown {
  if (typeof value === "bigint") return value.toString();
  if (value instanceof Uint8Array) return [...value];
  return value;
}

/**
 * Starts the example server on `127.0.0.1` (port 0: any free port).
 *
 * @example
 * ```ts
 * import { Glen } from "../mod.ts";
 * import { startSseServer } from "./sse_server.ts";
 *
 * const db = await Glen.open();
 * const server = await startSseServer(db, 0);
 * await server.close();
 * await db.close();
 * ```
 */
export async function startSseServer(db: Glen, port: number): Promise<SseServer> {
  const streams = new Set<AbortController>();
  const server = createServer((request, response) => {
    handle(db, request, response, streams).catch((error) => {
      if (!response.headersSent) response.writeHead(500).end(String(error));
      else response.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  return {
    port: (server.address() as AddressInfo).port,
    close: () => {
      for (const controller of streams) controller.abort();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

async function handle(
  db: Glen,
  request: IncomingMessage,
  response: ServerResponse,
  streams: Set<AbortController>,
): Promise<void> {
  const url = new URL(request.url ?? "/", "http://localhost");
  const docPath = /^\/docs\/([^/]+)\/([^/]+)$/.exec(url.pathname);
  if (request.method === "PUT" && docPath !== null) {
    let body = "";
    for await (const chunk of request) body += chunk;
    const version = await db.put(
      decodeURIComponent(docPath[1]!),
      decodeURIComponent(docPath[2]!),
      JSON.parse(body) as Value,
    );
    response.writeHead(200, { "content-type": "application/json" }).end(
      JSON.stringify({ version }),
    );
    return;
  }
  if (request.method === "GET" && url.pathname === "/events") {
    await streamEvents(db, request, response, url, streams);
    return;
  }
  if (request.method === "GET" && url.pathname === "/") {
    response.writeHead(200, { "content-type": "text/html; charset=utf-8" }).end(PAGE);
    return;
  }
  response.writeHead(404).end("not found");
}

async function streamEvents(
  db: Glen,
  request: IncomingMessage,
  response: ServerResponse,
  url: URL,
  streams: Set<AbortController>,
): Promise<void> {
  const collection = url.searchParams.get("collection") ?? "messages";
  const lastEventId = request.headers["last-event-id"];
  const since = typeof lastEventId === "string" && /^[0-9]+$/.test(lastEventId)
    ? Number(lastEventId)
    : undefined;
  const controller = new AbortController();
  streams.add(controller);
  request.on("close", () => controller.abort()); // the browser went away: unsubscribe
  response.writeHead(200, {
    "content-type": "text/event-stream",
    "cache-control": "no-cache",
    connection: "keep-alive",
  });
  const feed = db.changes({ since, collections: [collection], signal: controller.signal });
  try {
    for await (const chunk of feed.pipeThrough(new SseEncoderStream())) response.write(chunk);
  } catch (error) {
    // An expired cursor or an overflow: tell the page to reload, then end the stream.
    const kind = error instanceof CursorExpiredError ? "expired" : "overflow";
    response.write(`event: ${kind}\ndata: {}\n\n`);
  } finally {
    streams.delete(controller);
    response.end();
  }
}

const PAGE = `<!doctype html>
<meta charset="utf-8"><title>@glen/db live changes</title>
<ul id="log"></ul>
<script>
  const source = new EventSource("/events?collection=messages");
  source.addEventListener("change", (event) => {
    const li = document.createElement("li");
    li.textContent = event.lastEventId + ": " + event.data;
    document.getElementById("log").prepend(li);
  });
  source.addEventListener("expired", () => location.reload());
</script>
`;

if (import.meta.main) {
  const db = await Glen.open();
  const server = await startSseServer(db, Number(process.env.PORT ?? 8787));
  console.log(`Listening on http://127.0.0.1:${server.port}/ (Ctrl-C to stop)`);
}
