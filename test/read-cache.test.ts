import { describe, expect, it } from "vitest";
import { withPointReadCache } from "../src/features/metadata/metadata.cache.js";
import type { EntryScope, MetadataRepository, MetadataRow } from "../src/features/metadata/metadata.repository.js";

// The embedded-mode read cache must never answer a value older than the last acknowledged write.

const scope: EntryScope = { tenant: "t", linkedObjectType: "ACCOUNT", identifier: "A-1", namespace: "" };
const row = (value: string, version: number, expiresAt: Date | null = null): MetadataRow => ({
  ...scope,
  key: "k",
  value,
  version,
  createdAt: new Date(0),
  updatedAt: new Date(0),
  expiresAt,
  sequence: version,
});

/** A table of one key whose reads can be held open, to interleave them with writes. */
function fakeRepository() {
  let stored: MetadataRow | null = row("v1", 1);
  let reads = 0;
  let release: (() => void) | undefined;
  const repository = {
    async findLive() {
      reads++;
      const seen = stored;
      if (release === undefined) return seen;
      await new Promise<void>((resolve) => {
        const previous = release;
        release = () => {
          previous?.();
          resolve();
        };
      });
      return seen;
    },
    async upsert(_scope: EntryScope, values: { value: string; expiresAt: Date | null }) {
      stored = row(values.value, (stored?.version ?? 0) + 1, values.expiresAt);
      return stored;
    },
    async delete() {
      const was = stored;
      stored = null;
      return was;
    },
  } as unknown as MetadataRepository;
  return {
    repository,
    reads: () => reads,
    holdReads: () => {
      release = () => {};
    },
    releaseReads: () => {
      const r = release;
      release = undefined;
      r?.();
    },
  };
}

const upsertValues = (value: string) => ({
  key: "k",
  value,
  expiresAt: null as Date | null,
  expectedVersion: undefined,
  maxKeysPerObject: 10,
  now: new Date(),
  actor: "u-1",
});

describe("embedded-mode point-read cache", () => {
  it("answers repeated reads from memory and the next read after a write from the table", async () => {
    const fake = fakeRepository();
    const cached = withPointReadCache(fake.repository);
    const now = new Date();
    expect((await cached.findLive(scope, "k", now))?.value).toBe("v1");
    expect((await cached.findLive(scope, "k", now))?.value).toBe("v1");
    expect(fake.reads()).toBe(1);
    await cached.upsert(scope, upsertValues("v2"));
    expect((await cached.findLive(scope, "k", now))?.value).toBe("v2");
    await cached.delete(scope, "k", undefined, now, "u-1");
    expect(await cached.findLive(scope, "k", now)).toBeNull();
  });

  it("does not keep a value read while a write was running", async () => {
    const fake = fakeRepository();
    const cached = withPointReadCache(fake.repository);
    const now = new Date();
    fake.holdReads();
    const staleRead = cached.findLive(scope, "k", now);
    await cached.upsert(scope, upsertValues("v2"));
    fake.releaseReads();
    expect((await staleRead)?.value).toBe("v1");
    expect((await cached.findLive(scope, "k", now))?.value).toBe("v2");
  });

  it("treats a cached entry as absent once it has expired", async () => {
    const fake = fakeRepository();
    const cached = withPointReadCache(fake.repository);
    const expiresAt = new Date(Date.now() + 60_000);
    await cached.upsert(scope, { ...upsertValues("soon"), expiresAt });
    expect((await cached.findLive(scope, "k", new Date()))?.value).toBe("soon");
    expect(await cached.findLive(scope, "k", new Date(expiresAt.getTime() + 1))).toBeNull();
  });
});
