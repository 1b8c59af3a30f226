import type { TypedDocumentNode } from "@graphql-typed-document-node/core";
import { type ExecutionResult, print } from "graphql";
import { createClient } from "graphql-ws";
import WebSocket from "ws";

// Subscriptions as clients hold them: GraphQL over SSE (a POST answered with text/event-stream)
// and graphql-transport-ws over a WebSocket. Both become one queue of results the tests read.

export type Transport = "sse" | "ws";

export interface LiveStream<T> {
  /** The next result; rejects after `timeoutMs` or when the stream has ended with nothing more. */
  next(timeoutMs?: number): Promise<ExecutionResult<T>>;
  /** Settles when the server ends the stream: `complete`, or why not (an error, a close). */
  readonly ended: Promise<{ completed: boolean; reason?: string }>;
  /** Results received and not yet taken by `next`. */
  pending(): number;
  close(): void;
}

export interface SubscribeRequest<T, V> {
  document: TypedDocumentNode<T, V>;
  variables: V;
  token?: string;
}

/** A queue fed by a transport; `next` waits for it. */
function queue<T>() {
  const items: ExecutionResult<T>[] = [];
  const waiters: ((item: ExecutionResult<T> | undefined) => void)[] = [];
  let finished = false;
  let end: (value: { completed: boolean; reason?: string }) => void = () => {};
  const ended = new Promise<{ completed: boolean; reason?: string }>((resolve) => {
    end = resolve;
  });
  return {
    push(item: ExecutionResult<T>) {
      const waiter = waiters.shift();
      if (waiter) waiter(item);
      else items.push(item);
    },
    finish(completed: boolean, reason?: string) {
      if (finished) return;
      finished = true;
      end({ completed, reason });
      for (const waiter of waiters.splice(0)) waiter(undefined);
    },
    ended,
    pending: () => items.length,
    next(timeoutMs = 10_000): Promise<ExecutionResult<T>> {
      const item = items.shift();
      if (item) return Promise.resolve(item);
      if (finished) return Promise.reject(new Error("the stream has ended"));
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.splice(waiters.indexOf(waiter), 1);
          reject(new Error(`no result within ${timeoutMs} ms`));
        }, timeoutMs);
        const waiter = (value: ExecutionResult<T> | undefined) => {
          clearTimeout(timer);
          if (value) resolve(value);
          else reject(new Error("the stream has ended"));
        };
        waiters.push(waiter);
      });
    },
  };
}

/**
 * GraphQL over SSE through `fetch` (the app's in-process `yoga.fetch`, or the global one against
 * a port). Resolves once the response has started: the server has subscribed by then. A response
 * that is not an event stream (a refused subscription) is one result, then the end.
 */
export async function subscribeSse<T, V>(
  fetchFn: (url: string, init: RequestInit) => Promise<Response>,
  url: string,
  { document, variables, token }: SubscribeRequest<T, V>,
): Promise<LiveStream<T> & { status: number; contentType: string | null }> {
  const controller = new AbortController();
  const headers: Record<string, string> = { "content-type": "application/json", accept: "text/event-stream" };
  if (token) headers.authorization = `Bearer ${token}`;
  const response = await fetchFn(url, {
    method: "POST",
    headers,
    body: JSON.stringify({ query: print(document), variables }),
    signal: controller.signal,
  });
  const q = queue<T>();
  const contentType = response.headers.get("content-type");
  void (async () => {
    if (!contentType?.startsWith("text/event-stream") || !response.body) {
      q.push((await response.json()) as ExecutionResult<T>);
      return q.finish(true);
    }
    const decoder = new TextDecoder();
    let buffer = "";
    const reader = response.body.getReader();
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return q.finish(false, "the response ended without `complete`");
        buffer += decoder.decode(value, { stream: true });
        for (let at = buffer.indexOf("\n\n"); at >= 0; at = buffer.indexOf("\n\n")) {
          const block = buffer.slice(0, at);
          buffer = buffer.slice(at + 2);
          const lines = block.split("\n");
          const event = lines
            .find((l) => l.startsWith("event:"))
            ?.slice(6)
            .trim();
          const data = lines
            .filter((l) => l.startsWith("data:"))
            .map((l) => l.slice(5).trim())
            .join("\n");
          if (event === "complete") return q.finish(true);
          if (data) q.push(JSON.parse(data) as ExecutionResult<T>);
        }
      }
    } catch (error) {
      q.finish(false, String(error));
    }
  })();
  return {
    status: response.status,
    contentType,
    next: q.next,
    ended: q.ended,
    pending: q.pending,
    close: () => controller.abort(),
  };
}

/**
 * graphql-transport-ws over a WebSocket. The token goes in connection_init's `Authorization`, or,
 * with `via: "header"`, on the upgrade request. Resolves once the server acknowledged the
 * connection; the subscription itself is registered asynchronously (see `subscribed`).
 */
export async function subscribeWs<T, V>(
  url: string,
  { document, variables, token }: SubscribeRequest<T, V>,
  { via = "params" }: { via?: "params" | "header" } = {},
): Promise<LiveStream<T> & { closeCode: Promise<number> }> {
  let closeCode: (code: number) => void = () => {};
  const closed = new Promise<number>((resolve) => {
    closeCode = resolve;
  });
  const authorization = token ? `Bearer ${token}` : undefined;
  const client = createClient({
    url,
    lazy: false,
    retryAttempts: 0,
    // Closes are what some tests wait for (closeCode); not worth a console line each.
    onNonLazyError: () => {},
    webSocketImpl:
      via === "header" && authorization
        ? class extends WebSocket {
            constructor(address: string, protocols?: string | string[]) {
              super(address, protocols, { headers: { authorization } });
            }
          }
        : WebSocket,
    connectionParams: via === "params" && authorization ? { Authorization: authorization } : undefined,
    on: { closed: (event) => closeCode((event as { code: number }).code) },
  });
  await new Promise<void>((resolve, reject) => {
    const offConnected = client.on("connected", () => {
      offConnected();
      resolve();
    });
    client.on("closed", (event) => reject(new Error(`closed before connecting: ${(event as { code: number }).code}`)));
  });
  const q = queue<T>();
  client.subscribe<T>(
    { query: print(document), variables: variables as Record<string, unknown> },
    {
      next: (result) => q.push(result as ExecutionResult<T>),
      error: (error) => {
        // Errors of the operation itself arrive as a list of GraphQL errors: one result, then the end.
        if (Array.isArray(error)) {
          q.push({ errors: error } as ExecutionResult<T>);
          q.finish(true);
        } else q.finish(false, `closed: ${(error as { code?: number }).code ?? String(error)}`);
      },
      complete: () => q.finish(true),
    },
  );
  void closed.then((code) => q.finish(false, `socket closed: ${code}`));
  return {
    next: q.next,
    ended: q.ended,
    pending: q.pending,
    closeCode: closed,
    close: () => void client.dispose(),
  };
}
