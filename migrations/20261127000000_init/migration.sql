-- Authored with `npm run db:diff`; one edit by hand: "key" uses COLLATE "C" so that ordering,
-- cursors and keyPrefix ranges are byte-wise and index-backed on every server locale.

-- CreateSchema
CREATE SCHEMA IF NOT EXISTS "public";

-- CreateTable
CREATE TABLE "metadata" (
    "id" BIGSERIAL NOT NULL,
    "tenant" TEXT NOT NULL,
    "linked_object_type" TEXT NOT NULL,
    "identifier" TEXT NOT NULL,
    "namespace" TEXT NOT NULL DEFAULT '',
    "key" TEXT COLLATE "C" NOT NULL,
    "value" TEXT NOT NULL,
    "version" INTEGER NOT NULL DEFAULT 1,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "expires_at" TIMESTAMPTZ(3),

    CONSTRAINT "metadata_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "metadata_expires_at_idx" ON "metadata"("expires_at");

-- CreateIndex
CREATE UNIQUE INDEX "metadata_entry_key" ON "metadata"("tenant", "linked_object_type", "identifier", "namespace", "key");

