import { request as httpRequest } from "node:http";
import type { AddressInfo } from "node:net";
import { createSchema, createYoga } from "graphql-yoga";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { useRequestBodyLimit } from "../src/graphql/request-body-limit.js";
import { createTestApp, type TestApp } from "./support/app.js";
import { backends } from "./support/backends.js";

// Our body limit replaces Yoga's (same answers, no per-request stream): a body is refused by its
// Content-Length before it is read, or while it is read when it has none (chunked).

const LIMIT = 200;
const yoga = createYoga({
  schema: createSchema({
    typeDefs: "type Query { echo(text: String!): String! }",
    resolvers: { Query: { echo: (_: unknown, { text }: { text: string }) => text } },
  }),
  maxRequestBodySize: false,
  plugins: [useRequestBodyLimit(LIMIT)],
  logging: false,
});

const body = (text: string) =>
  JSON.stringify({ query: "query($t: String!) { echo(text: $t) }", variables: { t: text } });

function post(payload: string, headers: Record<string, string> = {}, chunked = false) {
  const bytes = new TextEncoder().encode(payload);
  const stream = new ReadableStream<Uint8Array>({
    start(controller) {
      // Two chunks: the count must add up across them.
      controller.enqueue(bytes.slice(0, 10));
      controller.enqueue(bytes.slice(10));
      controller.close();
    },
  });
  return yoga.fetch("http://localhost/graphql", {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: chunked ? stream : payload,
    ...(chunked ? { duplex: "half" } : {}),
  } as RequestInit);
}

describe("request body limit", () => {
  it("serves bodies within the limit, with a Content-Length or chunked", async () => {
    const small = body("hi");
    const sized = await post(small, { "content-length": String(Buffer.byteLength(small)) });
    expect(await sized.json()).toEqual({ data: { echo: "hi" } });
    const chunked = await post(small, {}, true);
    expect(await chunked.json()).toEqual({ data: { echo: "hi" } });
  });

  it("refuses a Content-Length over the limit with 413 REQUEST_ENTITY_TOO_LARGE", async () => {
    const large = body("x".repeat(LIMIT));
    const response = await post(large, { "content-length": String(Buffer.byteLength(large)) });
    expect(response.status).toBe(413);
    expect((await response.json()).errors[0].extensions.code).toBe("REQUEST_ENTITY_TOO_LARGE");
  });

  it("counts a chunked body and refuses it once it passes the limit", async () => {
    const response = await post(body("x".repeat(LIMIT)), {}, true);
    expect(response.status).toBe(413);
    expect((await response.json()).errors[0].extensions.code).toBe("REQUEST_ENTITY_TOO_LARGE");
  });

  it("refuses a malformed Content-Length with 400 BAD_REQUEST", async () => {
    for (const header of ["12, 12", "-1", "abc"]) {
      const response = await post(body("hi"), { "content-length": header });
      expect(response.status).toBe(400);
      expect((await response.json()).errors[0].extensions.code).toBe("BAD_REQUEST");
    }
  });
});

describe.each(backends)("the service's body limit ($name)", (backend) => {
  let t: TestApp;
  let port: number;
  beforeAll(async () => {
    t = await createTestApp(backend, { PORT: "0", HOST: "127.0.0.1" });
    port = ((await t.app.listen()).address() as AddressInfo).port;
  });
  afterAll(() => t.close());

  it("answers 413 from the header alone, before reading the body", async () => {
    const { status, text } = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = httpRequest(
        {
          host: "127.0.0.1",
          port,
          path: "/graphql",
          method: "POST",
          headers: { "content-type": "application/json", "content-length": t.config.graphql.maxRequestBodyBytes + 1 },
        },
        (res) => {
          let text = "";
          res.on("data", (chunk) => {
            text += chunk;
          });
          res.on("end", () => {
            req.destroy();
            resolve({ status: res.statusCode ?? 0, text });
          });
        },
      );
      req.on("error", reject);
      // Headers only: the body never comes, so an answer proves nothing waited for it.
      req.flushHeaders();
    });
    expect(status).toBe(413);
    expect(JSON.parse(text).errors[0].extensions.code).toBe("REQUEST_ENTITY_TOO_LARGE");
  });
});
