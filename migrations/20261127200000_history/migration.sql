-- Authored with `prisma migrate diff` (old schema.prisma -> new); edited by hand where Prisma cannot
-- express it:
-- 1. CREATE SEQUENCE: one global sequence numbers every change of every tenant. A per-tenant counter
--    row would serialize each tenant's writes on its lock; a sequence never blocks and is not rolled
--    back, so values are increasing but may have gaps, and concurrent transactions may commit out of
--    order. Both columns default to it; the writes set the row's and its event's to one value.
-- 2. "key" uses COLLATE "C", as metadata.key does (byte-wise order on every server locale).
-- 3. A CHECK keeps "operation" to the four the API knows.
-- The primary key doubles as the one-key history index (see schema.prisma): three indexes per event.
-- Existing rows get a sequence each as the column is added (a volatile default: PostgreSQL rewrites
-- the table once, under its lock) and no event: their history starts with their next change.

-- CreateSequence
CREATE SEQUENCE "metadata_sequence" AS BIGINT;

-- AlterTable
ALTER TABLE "metadata" ADD COLUMN     "sequence" BIGINT NOT NULL DEFAULT nextval('metadata_sequence'::regclass);

-- CreateTable
CREATE TABLE "metadata_event" (
    "sequence" BIGINT NOT NULL DEFAULT nextval('metadata_sequence'::regclass),
    "tenant" TEXT NOT NULL,
    "linked_object_type" TEXT NOT NULL,
    "identifier" TEXT NOT NULL,
    "namespace" TEXT NOT NULL,
    "key" TEXT COLLATE "C" NOT NULL,
    "operation" TEXT NOT NULL,
    "old_version" INTEGER NOT NULL,
    "new_version" INTEGER,
    "value" TEXT,
    "actor" TEXT,
    "occurred_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "metadata_event_pkey" PRIMARY KEY ("tenant","linked_object_type","identifier","namespace","key","sequence"),
    CONSTRAINT "metadata_event_operation_check" CHECK ("operation" IN ('CREATED', 'UPDATED', 'DELETED', 'EXPIRED'))
);

-- CreateIndex
CREATE INDEX "metadata_event_object_idx" ON "metadata_event"("tenant", "linked_object_type", "identifier", "namespace", "sequence");

-- CreateIndex
CREATE INDEX "metadata_event_occurred_at_idx" ON "metadata_event"("occurred_at");
