-- Fewer index entries per write (issue 7: upserts had fallen to 0.76x the reference once history and
-- search came). Written by hand: `npm run db:diff` printed a DROP and a RENAME of the same
-- constraint for the primary key change, and Prisma's schema cannot express a partial index.
-- Measured with pgbench (the upsert statement alone, 100,000 rows): see the issue 7 note.

-- The entry's own key becomes the primary key and the surrogate id goes: no statement used the id,
-- and every insert (and every update that moves a row, which the search indexes make all of them)
-- paid for its B-tree entry. The unique index is kept as it is and becomes the primary key's.
ALTER TABLE "metadata" DROP CONSTRAINT "metadata_pkey";
ALTER TABLE "metadata" DROP COLUMN "id";
ALTER TABLE "metadata" ADD CONSTRAINT "metadata_entry_key" PRIMARY KEY USING INDEX "metadata_entry_key";

-- Only rows that expire: the purge asks for `expires_at <= now`, which no NULL satisfies, and most
-- entries never expire, so most writes no longer touch this index at all.
DROP INDEX "metadata_expires_at_idx";
CREATE INDEX "metadata_expires_at_idx" ON "metadata"("expires_at") WHERE "expires_at" IS NOT NULL;

-- Events are appended in time order, so a BRIN index (a summary per block range) finds the old
-- ones for the retention prune; a B-tree cost one entry per event.
DROP INDEX "metadata_event_occurred_at_idx";
CREATE INDEX "metadata_event_occurred_at_idx" ON "metadata_event" USING BRIN ("occurred_at");
