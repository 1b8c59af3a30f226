import { type ExecutionResult, print } from "graphql";
import { createClient } from "graphql-ws";
import { SignJWT } from "jose";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { loadConfig } from "../src/config.js";
import { type Database, type DatabaseOptions, openDatabase } from "../src/db/database.js";
import { applyPendingMigrations } from "../src/db/migrations.js";
import { LISTENER_APPLICATION_NAME } from "../src/db/notifications.js";
import { MAX_PIECE_BYTES, splitUtf8 } from "../src/db/notify.js";
import { DomainError } from "../src/errors.js";
import type { MetadataChange } from "../src/features/metadata/index.js";
import { createLocalChangeFeed } from "../src/features/metadata/index.js";
import { FeedOverflow } from "../src/features/metadata/metadata.changes.js";
import { CHANGES_CHANNEL } from "../src/features/metadata/metadata.feed-postgres.js";
import { endingAtExpiry } from "../src/features/metadata/metadata.watch.js";
import { MAX_SUBSCRIPTIONS_PER_SOCKET } from "../src/graphql/web-sockets.js";
import type { Logger } from "../src/observability/logger.js";
import { type App, createApp } from "../src/server.js";
import type { MetadataChangedSubscription } from "./gql/graphql.js";
import { createTestApp, executorFor, TEST_SECRET, type TestApp, type TestClaims } from "./support/app.js";
import { type Backend, backends } from "./support/backends.js";
import { type LiveStream, subscribeSse, subscribeWs, type Transport } from "./support/live.js";
import { captureLog } from "./support/log.js";
import {
  DeleteMetadata,
  DeleteMetadataKeys,
  MetadataChanged,
  MetadataHistory,
  SetMetadata,
  UpdateMetadata,
} from "./support/operations.js";
import { graphql, killLeftovers, type ServerProcess, startServer } from "./support/process.js";

// metadataChanged over SSE and WebSocket: what each write emits, after commit only, to whom, and
// how streams end. With PostgreSQL, across instances (LISTEN/NOTIFY) too.

const STAFF: TestClaims = { sub: "staff-1", permissions: ["CAN_MUTATE_METADATA"], client_id: "backoffice" };
const READER: TestClaims = { sub: "u-1", accounts: ["A-1"], scope: "metadata.read", client_id: "web" };
const TRANSPORTS: Transport[] = ["sse", "ws"];

type Stream = LiveStream<MetadataChangedSubscription>;
type Execute = TestApp["execute"];
interface Where {
  identifier: string;
  namespace?: string;
}

/** An HS256 token of the test secret expiring in `seconds`. */
function tokenExpiringIn(claims: TestClaims, seconds: number): Promise<string> {
  return new SignJWT({ ...claims })
    .setProtectedHeader({ alg: "HS256" })
    .setIssuedAt()
    .setExpirationTime(Math.floor(Date.now() / 1000) + seconds)
    .sign(new TextEncoder().encode(TEST_SECRET));
}

/** A change as compact text: "OPERATION key=value vN [namespace]". */
function describeChange(result: ExecutionResult<MetadataChangedSubscription>): string {
  if (result.errors?.length) return `error ${result.errors.map((e) => e.extensions?.code).join(",")}`;
  const change = result.data?.metadataChanged;
  if (!change) return "nothing";
  const { operation, metadata: m } = change;
  return `${operation} ${m.key}=${m.value} v${m.version}${m.namespace ? ` [${m.namespace}]` : ""}`;
}

async function writeOk(execute: Execute, token: string, where: Where, key: string, value: string, extra = {}) {
  const result = await execute({
    document: UpdateMetadata,
    variables: { input: { linkedObjectType: "ACCOUNT", ...where, key, value, ...extra } },
    token,
  });
  expect(result.body.errors).toBeUndefined();
}

let markers = 0;

/**
 * Writes a marker entry until each stream delivers it (from then on its subscription is registered
 * on every instance the write may come from), then one more that all of them must deliver, dropping
 * whatever came before it: the streams are empty afterwards.
 */
async function synced(streams: Stream | Stream[], execute: Execute, token: string, where: Where): Promise<void> {
  const isMarker = (result: ExecutionResult<MetadataChangedSubscription> | undefined, value: string) =>
    result?.data?.metadataChanged.metadata.key === "sync" && result.data.metadataChanged.metadata.value === value;
  const drainTo = async (stream: Stream, value: string, timeoutMs: number) => {
    const until = Date.now() + timeoutMs;
    while (Date.now() < until) {
      if (isMarker(await stream.next(until - Date.now()).catch(() => undefined), value)) return true;
    }
    return false;
  };
  for (const stream of [streams].flat()) {
    let registered = false;
    for (let attempt = 1; !registered; attempt++) {
      if (attempt > 40) throw new Error("the subscription never delivered the marker");
      const value = `m${++markers}`;
      await writeOk(execute, token, where, "sync", value);
      registered = await drainTo(stream, value, 500);
    }
  }
  const last = `m${++markers}`;
  await writeOk(execute, token, where, "sync", last);
  for (const stream of [streams].flat()) {
    if (!(await drainTo(stream, last, 10_000))) throw new Error("a registered subscription missed the marker");
  }
}

/** The next `count` results, described. */
async function take(stream: Stream, count: number): Promise<string[]> {
  const taken: string[] = [];
  for (let i = 0; i < count; i++) taken.push(describeChange(await stream.next()));
  return taken;
}

/** Writes a closing marker: the stream's next result must be it, so nothing was emitted before. */
async function expectNothingBefore(stream: Stream, execute: Execute, token: string, where: Where, marker: string) {
  await writeOk(execute, token, where, "marker", marker);
  expect(describeChange(await stream.next())).toMatch(new RegExp(`^(CREATED|UPDATED) marker=${marker} `));
}

describe.each(backends)("metadataChanged on $name", (backend) => {
  let t: TestApp;
  let staff: string;
  let wsUrl: string;

  beforeAll(async () => {
    t = await createTestApp(backend, { PORT: "0", HOST: "127.0.0.1", METADATA_PURGE_INTERVAL_SECONDS: "3600" });
    const server = await t.app.listen();
    const address = server.address();
    wsUrl = `ws://127.0.0.1:${typeof address === "object" && address ? address.port : 0}/graphql`;
    staff = await t.token(STAFF);
  });
  afterAll(() => t?.close());

  const open = (
    transport: Transport,
    token: string | undefined,
    where: Where,
    linkedObjectType = "ACCOUNT" as const,
  ) => {
    const request = { document: MetadataChanged, variables: { linkedObjectType, ...where }, token };
    return transport === "sse"
      ? subscribeSse(async (url, init) => t.app.yoga.fetch(url, init), "http://yoga/graphql", request)
      : subscribeWs(wsUrl, request);
  };
  /** Subscribed and synced, as staff unless another token is given. */
  const watch = async (transport: Transport, where: Where, token = staff) => {
    const stream = await open(transport, token, where);
    await synced(stream, t.execute, staff, where);
    return stream;
  };

  describe.each(TRANSPORTS)("over %s", (transport) => {
    it("emits CREATED, UPDATED and DELETED for single writes, with the entry (as it was, for DELETED)", async () => {
      const where = { identifier: `A-single-${transport}` };
      const stream = await watch(transport, where);
      await writeOk(t.execute, staff, where, "theme", '{"dark":true}');
      await writeOk(t.execute, staff, where, "theme", "light", { expectedVersion: 1 });
      const deleted = await t.execute({
        document: DeleteMetadata,
        variables: { input: { linkedObjectType: "ACCOUNT", ...where, key: "theme" } },
        token: staff,
      });
      expect(deleted.body.errors).toBeUndefined();
      const created = await stream.next();
      // The change carries its history event's sequence.
      const history = await t.execute({
        document: MetadataHistory,
        variables: { linkedObjectType: "ACCOUNT", ...where, key: "theme" },
        token: staff,
      });
      const createdEvent = history.body.data?.metadataHistory.edges.at(-1)?.node;
      expect(createdEvent?.operation).toBe("CREATED");
      expect(created.data?.metadataChanged).toEqual({
        operation: "CREATED",
        sequence: createdEvent?.sequence,
        metadata: expect.objectContaining({
          key: "theme",
          value: '{"dark":true}',
          jsonValue: { dark: true },
          namespace: null,
          linkedObjectType: "ACCOUNT",
          identifier: where.identifier,
          version: 1,
          expiresAt: null,
        }),
      });
      expect(await take(stream, 2)).toEqual(["UPDATED theme=light v2", "DELETED theme=light v2"]);
      stream.close();
    });

    it("emits one event per entry for setMetadata (REPLACE removals as DELETED) and deleteMetadataKeys", async () => {
      const where = { identifier: `A-batch-${transport}` };
      await writeOk(t.execute, staff, where, "old", "o");
      await writeOk(t.execute, staff, where, "keep", "k");
      const stream = await watch(transport, where);
      const batch = await t.execute({
        document: SetMetadata,
        variables: {
          input: {
            linkedObjectType: "ACCOUNT",
            ...where,
            mode: "REPLACE",
            entries: [
              { key: "keep", value: "k2" },
              { key: "new", value: "n" },
            ],
          },
        },
        token: staff,
      });
      expect(batch.body.errors).toBeUndefined();
      const removed = await t.execute({
        document: DeleteMetadataKeys,
        variables: { input: { linkedObjectType: "ACCOUNT", ...where, keys: ["new", "absent", "keep"] } },
        token: staff,
      });
      expect(removed.body.errors).toBeUndefined();
      // REPLACE removed "old" and "sync" (the marker is a key of the namespace too).
      const replaced = (await take(stream, 4)).map((c) => c.replace(/^DELETED sync=.*/, "DELETED sync"));
      expect(replaced.sort()).toEqual(["CREATED new=n v1", "DELETED old=o v1", "DELETED sync", "UPDATED keep=k2 v2"]);
      // One statement's changes arrive in sequence order: the order the database removed them in.
      expect((await take(stream, 2)).sort()).toEqual(["DELETED keep=k2 v2", "DELETED new=n v1"]);
      stream.close();
    });

    it("emits EXPIRED for each entry the expiry purge removes", async () => {
      const where = { identifier: `A-expiry-${transport}` };
      const stream = await watch(transport, where);
      const expiresAt = new Date(Date.now() + 1000).toISOString();
      await writeOk(t.execute, staff, where, "short", "s", { expiresAt });
      expect(await take(stream, 1)).toEqual(["CREATED short=s v1"]);
      await new Promise((resolve) => setTimeout(resolve, 1100));
      expect((await t.app.services.metadata.purgeExpired()).length).toBeGreaterThanOrEqual(1);
      const expired = await stream.next();
      expect(describeChange(expired)).toBe("EXPIRED short=s v1");
      expect(expired.data?.metadataChanged.metadata.expiresAt).toBe(expiresAt);
      stream.close();
    });

    it("emits nothing for another object, namespace or tenant, nor for a failed or rolled-back batch", async () => {
      const where = { identifier: `A-filter-${transport}` };
      await writeOk(t.execute, staff, where, "v", "1");
      const stream = await watch(transport, where);
      await writeOk(t.execute, staff, { identifier: `${where.identifier}-other` }, "k", "other object");
      await writeOk(t.execute, staff, { ...where, namespace: "billing" }, "k", "other namespace");
      await writeOk(t.execute, staff, { ...where, namespace: "$app" }, "k", "staff's $app");
      await writeOk(t.execute, await t.token({ ...STAFF, tenant: "acme" }), where, "k", "other tenant");
      // A compare-and-set fails after REPLACE removed keys and another entry was written: all rolled back.
      const failed = await t.execute({
        document: SetMetadata,
        variables: {
          input: {
            linkedObjectType: "ACCOUNT",
            ...where,
            mode: "REPLACE",
            entries: [
              { key: "fresh", value: "x" },
              { key: "v", value: "2", expectedVersion: 7 },
            ],
          },
        },
        token: staff,
      });
      expect(failed.body.errors?.[0]?.extensions).toMatchObject({ code: "VERSION_CONFLICT", index: 1 });
      const invalid = await t.execute({
        document: SetMetadata,
        variables: { input: { linkedObjectType: "ACCOUNT", ...where, entries: [{ key: "bad key!", value: "x" }] } },
        token: staff,
      });
      expect(invalid.body.errors?.[0]?.extensions?.code).toBe("BAD_USER_INPUT");
      await expectNothingBefore(stream, t.execute, staff, where, "end");
      stream.close();
    });

    it("$app is the caller's own client namespace; a reader with metadata.read is served", async () => {
      const where = { identifier: "A-1", namespace: "$app" };
      const web = await t.token({ ...READER, scope: "metadata.write" });
      const stream = await open(transport, await t.token(READER), where);
      await synced(stream, t.execute, web, where);
      const mobile = await t.token({ ...READER, scope: "metadata.write", client_id: "mobile" });
      await writeOk(t.execute, mobile, where, `k-${transport}`, "mobile");
      await writeOk(t.execute, staff, where, `k-${transport}`, "backoffice");
      await writeOk(t.execute, web, where, `k-${transport}`, "web");
      expect(await take(stream, 1)).toEqual([`CREATED k-${transport}=web v1 [$app]`]);
      stream.close();
    });

    it("refuses a subscription the policy refuses, with its code and no stream", async () => {
      const cases: [string | undefined, Where, string][] = [
        [undefined, { identifier: "A-1" }, "UNAUTHENTICATED"],
        [await t.token(READER), { identifier: "A-2" }, "FORBIDDEN"],
        [await t.token({ ...READER, scope: "profile" }), { identifier: "A-1" }, "FORBIDDEN"],
        [await t.token({ ...READER, client_id: undefined }), { identifier: "A-1", namespace: "$app" }, "FORBIDDEN"],
        [staff, { identifier: "" }, "BAD_USER_INPUT"],
        [staff, { identifier: "A-1", namespace: "$app:web" }, "BAD_USER_INPUT"],
      ];
      for (const [token, where, code] of cases) {
        const stream = await open(transport, token, where);
        const result = await stream.next();
        expect(
          result.errors?.map((e) => e.extensions?.code),
          JSON.stringify(where),
        ).toEqual([code]);
        expect(result.data ?? null).toBeNull();
        expect((await stream.ended).completed).toBe(true);
      }
    });

    it("ends the stream when the token expires: an UNAUTHENTICATED error, then complete", async () => {
      const where = { identifier: `A-expiring-${transport}` };
      const stream = await open(transport, await tokenExpiringIn(STAFF, 3), where);
      await synced(stream, t.execute, staff, where);
      const last = await stream.next(10_000);
      expect(last.errors?.[0]?.extensions?.code).toBe("UNAUTHENTICATED");
      expect(last.errors?.[0]?.message).toMatch(/expired/);
      expect(await stream.ended).toEqual({ completed: true });
    });
  });

  it("WebSocket: the token may come on the upgrade request; a bad token is refused with its code", async () => {
    const where = { identifier: "A-ws-header" };
    const request = { document: MetadataChanged, variables: { linkedObjectType: "ACCOUNT" as const, ...where } };
    const stream = await subscribeWs(wsUrl, { ...request, token: staff }, { via: "header" });
    await synced(stream, t.execute, staff, where);
    stream.close();
    const forged = await subscribeWs(wsUrl, { ...request, token: `${staff.slice(0, -4)}AAAA` });
    expect((await forged.next()).errors?.map((e) => e.extensions?.code)).toEqual(["UNAUTHENTICATED"]);
  });

  it(`WebSocket: at most ${MAX_SUBSCRIPTIONS_PER_SOCKET} subscriptions per socket, the next refused with LIMIT_EXCEEDED`, async () => {
    const client = createClient({
      url: wsUrl,
      webSocketImpl: WebSocket,
      connectionParams: { Authorization: `Bearer ${staff}` },
      retryAttempts: 0,
    });
    const query = print(MetadataChanged);
    const variables = { linkedObjectType: "ACCOUNT", identifier: "A-many" };
    const errors: unknown[] = [];
    const noop = () => {};
    for (let i = 0; i < MAX_SUBSCRIPTIONS_PER_SOCKET; i++)
      client.subscribe({ query, variables }, { next: noop, error: (e) => errors.push(e), complete: noop });
    const refused = await new Promise<unknown>((resolve) =>
      client.subscribe({ query, variables }, { next: resolve, error: resolve, complete: noop }),
    );
    expect((refused as { extensions?: { code?: string } }[])[0]?.extensions).toMatchObject({
      code: "LIMIT_EXCEEDED",
      limit: MAX_SUBSCRIPTIONS_PER_SOCKET,
    });
    expect(JSON.stringify(errors)).toBe("[]");
    await client.dispose();
  });

  it("closing the app completes open subscriptions on both transports and closes sockets", async () => {
    const other = await createTestApp(backend, { PORT: "0", HOST: "127.0.0.1" });
    const server = await other.app.listen();
    const address = server.address();
    const port = typeof address === "object" && address ? address.port : 0;
    const token = await other.token(STAFF);
    const request = {
      document: MetadataChanged,
      variables: { linkedObjectType: "ACCOUNT" as const, identifier: "A-close" },
      token,
    };
    const sse = await subscribeSse((url, init) => fetch(url, init), `http://127.0.0.1:${port}/graphql`, request);
    const ws = await subscribeWs(`ws://127.0.0.1:${port}/graphql`, request);
    await synced([sse, ws], other.execute, token, { identifier: "A-close" });
    await other.close();
    expect(await sse.ended).toEqual({ completed: true });
    expect((await ws.ended).completed || (await ws.closeCode) === 1001).toBe(true);
  });
});

describe("change feed limits", () => {
  const change = (key: string): MetadataChange => ({
    sequence: 1,
    operation: "CREATED",
    tenant: "t",
    storedNamespace: "",
    entry: {
      key,
      value: "v",
      namespace: null,
      linkedObjectType: "ACCOUNT",
      identifier: "A",
      version: 1,
      createdAt: new Date(),
      updatedAt: new Date(),
      expiresAt: null,
      sequence: 1,
      resourceOwner: "t",
    },
  });
  const filter = { tenant: "t", linkedObjectType: "ACCOUNT", identifier: "A", storedNamespace: "" };

  it("a consumer that falls more than maxPending behind gets what was pending, an overflow, and the end", async () => {
    const feed = createLocalChangeFeed({ maxPending: 3 });
    const stream = feed.subscribe(filter);
    const first = stream.next();
    await new Promise((resolve) => setTimeout(resolve, 10));
    feed.publish(["a", "b", "c", "d", "e", "f"].map(change));
    const received: unknown[] = [];
    received.push(((await first).value as MetadataChange).entry.key);
    for await (const item of stream) received.push(item instanceof FeedOverflow ? "overflow" : item.entry.key);
    expect(received).toEqual(["a", "b", "c", "overflow"]);
    // Gone from the feed: later changes go nowhere, and closing ends nothing twice.
    feed.publish([change("g")]);
    await feed.close();
  });

  it("a stream that overflowed ends with LIMIT_EXCEEDED; one whose token expired, with UNAUTHENTICATED", async () => {
    async function* overflowing() {
      yield change("a");
      yield new FeedOverflow(1000);
      yield change("never");
    }
    const items: unknown[] = [];
    for await (const item of endingAtExpiry(overflowing(), undefined)) {
      items.push(item instanceof DomainError ? item.code : (item as MetadataChange).entry.key);
    }
    expect(items).toEqual(["a", "LIMIT_EXCEEDED"]);
    const feed = createLocalChangeFeed();
    const expiring = endingAtExpiry(feed.subscribe(filter), new Date(Date.now() + 50));
    expect(((await expiring.next()).value as DomainError).code).toBe("UNAUTHENTICATED");
    expect((await expiring.next()).done).toBe(true);
    await feed.close();
  });

  it("close ends every subscription and refuses later ones", async () => {
    const feed = createLocalChangeFeed();
    const stream = feed.subscribe(filter);
    const next = stream.next();
    await feed.close();
    expect(await next).toEqual({ done: true, value: undefined });
    expect(await feed.subscribe(filter).next()).toEqual({ done: true, value: undefined });
  });

  it("NOTIFY pieces: at most MAX_PIECE_BYTES of UTF-8 each, never a character cut, joined back exactly", () => {
    const text = `${"a".repeat(6999)}€${"😀".repeat(3000)}é`;
    const pieces = splitUtf8(text, MAX_PIECE_BYTES);
    expect(pieces.join("")).toBe(text);
    expect(pieces.length).toBeGreaterThan(2);
    for (const piece of pieces) {
      expect(Buffer.byteLength(piece, "utf8")).toBeLessThanOrEqual(MAX_PIECE_BYTES);
      expect(piece.isWellFormed()).toBe(true);
    }
  });
});

const postgres = backends.find((b): b is Backend => b.name === "postgres");

interface Instance {
  app: App;
  db: Database;
  execute: Execute;
}

/** Two apps on one database, as two instances of the service run. */
async function openInstances(options: DatabaseOptions, logger?: Logger): Promise<Instance[]> {
  const config = loadConfig({ JWT_SECRET: TEST_SECRET, NODE_ENV: "test", LOG_LEVEL: "silent" });
  const instances: Instance[] = [];
  for (let i = 0; i < 2; i++) {
    // The listening connection's warnings go to the app's log, as in `main.ts`.
    const db = await openDatabase({ ...options, dataDir: "", warn: logger && ((message) => logger.warn(message)) });
    await applyPendingMigrations(db);
    const app = await createApp({ config, db, logger });
    instances.push({ app, db, execute: executorFor(app) });
  }
  return instances;
}

describe.runIf(postgres)("metadataChanged across instances on one PostgreSQL", () => {
  let instances: Instance[] = [];
  let drop: () => Promise<void> = async () => {};
  let staff: string;
  const log = captureLog("warn");

  beforeAll(async () => {
    const created = await (postgres as Backend).create();
    drop = created.drop;
    instances = await openInstances(created.options, (await log).logger);
    staff = await new SignJWT({ ...STAFF })
      .setProtectedHeader({ alg: "HS256" })
      .setExpirationTime("1h")
      .sign(new TextEncoder().encode(TEST_SECRET));
  });
  afterAll(async () => {
    for (const instance of instances) await instance.app.close();
    instances = [];
    await drop();
  });

  const sse = (instance: Instance, where: Where) =>
    subscribeSse(async (url, init) => instance.app.yoga.fetch(url, init), "http://yoga/graphql", {
      document: MetadataChanged,
      variables: { linkedObjectType: "ACCOUNT", ...where },
      token: staff,
    });

  it("changes go to the other instances only while one of them serves a subscription", async () => {
    // A session of our own listens to the channel: it sees what the instances send each other.
    const created = await (postgres as Backend).create();
    const listener = new pg.Client({ connectionString: created.options.databaseUrl });
    const seen: string[] = [];
    await listener.connect();
    listener.on("notification", ({ payload }) => seen.push(payload ?? ""));
    await listener.query(`LISTEN ${CHANGES_CHANNEL}`);
    const pair: Instance[] = [];
    try {
      pair.push(...(await openInstances(created.options)));
      const [a, b] = pair as [Instance, Instance];
      // Both asked who serves subscriptions; nobody does. Past their grace, nothing is sent.
      for (let i = 0; seen.filter((p) => p.includes('"probe"')).length < 2; i++) {
        if (i > 400) throw new Error(`no probes: ${seen.join("\n")}`);
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      const where = { identifier: "A-presence" };
      await writeOk(a.execute, staff, where, "unwatched", "sent to nobody");
      const stream = await sse(b, where);
      await synced(stream, a.execute, staff, where);
      await writeOk(a.execute, staff, where, "watched", "sent");
      expect(describeChange(await stream.next())).toBe("CREATED watched=sent v1");
      // Notifications arrive in commit order: had the first write been sent, it would be here.
      const changes = seen.filter((p) => p.includes('"changes"'));
      expect(changes.some((p) => p.includes('"key":"sync"'))).toBe(true);
      expect(changes.some((p) => p.includes("unwatched"))).toBe(false);
      expect(seen.some((p) => p.includes('"subscribers"'))).toBe(true);
      stream.close();
    } finally {
      for (const instance of pair) await instance.app.close();
      await listener.end();
      await created.drop();
    }
  });

  it("a write on one instance reaches a subscriber on the other, a 65,535-character value whole", async () => {
    const [a, b] = instances as [Instance, Instance];
    const where = { identifier: "A-across" };
    const stream = await sse(b, where);
    await synced(stream, a.execute, staff, where);
    // 4 UTF-8 bytes each: ~256 KB, dozens of NOTIFY pieces.
    const large = "😀".repeat(65535);
    await writeOk(a.execute, staff, where, "large", large);
    const received = await stream.next();
    expect(received.data?.metadataChanged.operation).toBe("CREATED");
    expect(received.data?.metadataChanged.metadata.value === large).toBe(true);
    // A rolled-back batch on the other instance notifies nobody.
    const failed = await a.execute({
      document: SetMetadata,
      variables: {
        input: {
          linkedObjectType: "ACCOUNT",
          ...where,
          mode: "REPLACE",
          entries: [{ key: "x", value: "1", expectedVersion: 3 }],
        },
      },
      token: staff,
    });
    expect(failed.body.errors?.[0]?.extensions?.code).toBe("VERSION_CONFLICT");
    await expectNothingBefore(stream, a.execute, staff, where, "after-rollback");
    stream.close();
  });

  it("the listening connection reconnects after it is killed", async () => {
    const [a, b] = instances as [Instance, Instance];
    const where = { identifier: "A-reconnect" };
    const stream = await sse(b, where);
    await synced(stream, a.execute, staff, where);
    const listeners = () =>
      a.db.withConnection(
        (exec) =>
          exec(
            `SELECT pid FROM pg_stat_activity WHERE application_name = '${LISTENER_APPLICATION_NAME}' AND datname = current_database() ORDER BY pid`,
          ) as Promise<{ pid: number }[]>,
      );
    const before = (await listeners()).map((r) => r.pid);
    expect(before).toHaveLength(2);
    await a.db.withConnection((exec) =>
      exec(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid IN (${before.join(",")})`),
    );
    // Both instances listen again, on new connections.
    for (let i = 0; ; i++) {
      const now = (await listeners()).map((r) => r.pid);
      if (now.length === 2 && now.every((pid) => !before.includes(pid))) break;
      if (i > 200) throw new Error(`listeners did not come back: ${JSON.stringify(now)}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await synced(stream, a.execute, staff, where);
    await writeOk(a.execute, staff, where, "after", "reconnect");
    expect(describeChange(await stream.next())).toBe("CREATED after=reconnect v1");
    expect((await log).text()).toContain("Notifications: listening connection lost; reconnecting");
    stream.close();
  });

  it("closing an instance right after writes still sends their changes to the others", async () => {
    const [a, b] = instances as [Instance, Instance];
    const where = { identifier: "A-closing" };
    const stream = await sse(b, where);
    await synced(stream, a.execute, staff, where);
    // Concurrent: notifications queue up behind the one being sent when close begins.
    const keys = Array.from({ length: 30 }, (_, i) => `k${i}`);
    await Promise.all(keys.map((key) => writeOk(a.execute, staff, where, key, "before close")));
    await a.app.close();
    instances = instances.filter((instance) => instance !== a);
    const received = await take(stream, keys.length);
    expect(received.sort()).toEqual(keys.map((key) => `CREATED ${key}=before close v1`).sort());
    stream.close();
  });
});

describe.runIf(postgres)("metadataChanged across two server processes on one PostgreSQL", () => {
  let drop: () => Promise<void> = async () => {};
  afterAll(async () => {
    await killLeftovers();
    await drop();
  });

  /** The service's own HTTP API as a test executor: the typed documents, POSTed to a port. */
  const executorOf =
    (server: ServerProcess): Execute =>
    async ({ document, variables, token }) => {
      const query = typeof document === "string" ? document : print(document);
      const result = await graphql(server.origin, query, {
        variables: variables as Record<string, unknown>,
        authorization: token ? `Bearer ${token}` : undefined,
      });
      return result as never;
    };

  it("a write on one process reaches SSE and WebSocket subscribers on the other; SIGTERM ends them and exits", async () => {
    const created = await (postgres as Backend).create();
    drop = created.drop;
    const env = { DATABASE_URL: created.options.databaseUrl, JWT_SECRET: TEST_SECRET, LOG_LEVEL: "warn" };
    const [a, b] = await Promise.all([startServer(env, { devToken: false }), startServer(env, { devToken: false })]);
    const staff = await tokenExpiringIn(STAFF, 3600);
    const where = { identifier: "A-processes" };
    const request = {
      document: MetadataChanged,
      variables: { linkedObjectType: "ACCOUNT" as const, ...where },
      token: staff,
    };
    const onB = await subscribeSse(fetch, `${b.origin}/graphql`, request);
    const onBws = await subscribeWs(`ws://127.0.0.1:${b.port}/graphql`, request);
    await synced([onB, onBws], executorOf(a), staff, where);
    await writeOk(executorOf(a), staff, where, "from", "process A");
    expect(describeChange(await onB.next())).toBe("CREATED from=process A v1");
    expect(describeChange(await onBws.next())).toBe("CREATED from=process A v1");
    // And the other way round.
    const onA = await subscribeSse(fetch, `${a.origin}/graphql`, request);
    await synced(onA, executorOf(b), staff, where);

    const exits = await Promise.all([a.stop("SIGTERM", 15_000), b.stop("SIGTERM", 15_000)]);
    expect(exits).toEqual([
      { code: 0, signal: null },
      { code: 0, signal: null },
    ]);
    expect((await onA.ended).completed).toBe(true);
    expect((await onB.ended).completed).toBe(true);
    await onBws.ended;
    expect(b.stderr()).not.toMatch(/^\s+at /m);
  }, 120_000);
});
