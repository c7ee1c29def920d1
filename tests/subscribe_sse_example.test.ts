/**
 * Drives `examples/sse_server.ts` over loopback: a client reads the SSE stream while writes go
 * through the HTTP API, reconnects with `Last-Event-ID` and gets only what it missed, and the
 * server unsubscribes when the client goes away.
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import { Glen } from "../mod.ts";
import { startSseServer } from "../examples/sse_server.ts";

interface SseMessage {
  id: string;
  event: string;
  data: string;
}

/** Reads SSE messages of type `change` from a response body until `count` arrived. */
async function readMessages(
  body: ReadableStream<Uint8Array>,
  count: number,
): Promise<SseMessage[]> {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  const messages: SseMessage[] = [];
  let buffer = "";
  const timer = setTimeout(() => reader.cancel(new Error("timeout")), 10_000);
  try {
    while (messages.length < count) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      let end: number;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const fields = Object.fromEntries(
          block.split("\n").filter((l) => !l.startsWith(":")).map((line) => {
            const colon = line.indexOf(":");
            return [line.slice(0, colon), line.slice(colon + 1).trimStart()];
          }),
        );
        if (fields.event === "change") messages.push(fields as unknown as SseMessage);
      }
    }
  } finally {
    clearTimeout(timer);
    await reader.cancel().catch(() => undefined);
  }
  return messages;
}

test("the SSE example streams live changes and resumes from Last-Event-ID", async () => {
  const db = await Glen.open();
  const server = await startSseServer(db, 0);
  const base = `http://127.0.0.1:${server.port}`;
  try {
    const put = async (id: string, text: string) => {
      const response = await fetch(`${base}/docs/messages/${id}`, {
        method: "PUT",
        body: JSON.stringify({ text }),
      });
      assert.equal(response.status, 200);
      return (await response.json()) as { version: number };
    };
    await put("m0", "before the client connected");
    const live = await fetch(`${base}/events?collection=messages`);
    assert.equal(live.headers.get("content-type"), "text/event-stream");
    const first = readMessages(live.body!, 2);
    await new Promise((resolve) => setTimeout(resolve, 50)); // the subscription is in place
    await put("m1", "hello");
    await db.put("other", "x", 1); // another collection: not sent
    await put("m1", "hello again");
    const messages = await first;
    assert.deepEqual(messages.map((m) => JSON.parse(m.data)[0].value.text), [
      "hello",
      "hello again",
    ]);
    const lastId = messages.at(-1)!.id;

    await put("m2", "missed while away");
    const resumed = await fetch(`${base}/events?collection=messages`, {
      headers: { "last-event-id": lastId },
    });
    const [missed] = await readMessages(resumed.body!, 1);
    assert.equal(JSON.parse(missed!.data)[0].docId, "m2");
    assert.ok(Number(missed!.id) > Number(lastId));
  } finally {
    await server.close();
    await db.close();
  }
});
