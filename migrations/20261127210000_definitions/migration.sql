-- Authored with `prisma migrate diff --from-schema-datamodel <schema.prisma before> --to-schema-datamodel
-- schema.prisma --script` (`npm run db:diff` needs a migration_lock.toml this project does not keep).
-- Edits by hand, which Prisma cannot express: "namespace" and "key" use COLLATE "C" (as metadata.key
-- does) so that the listing's (namespace, key) order and cursors are byte-wise on every server
-- locale; the two arrays are NOT NULL DEFAULT '{}' (Prisma's scalar lists are never null, the
-- generated SQL left them nullable).

-- CreateTable
CREATE TABLE "metadata_definition" (
    "id" BIGSERIAL NOT NULL,
    "tenant" TEXT NOT NULL,
    "namespace" TEXT COLLATE "C" NOT NULL DEFAULT '',
    "key" TEXT COLLATE "C" NOT NULL,
    "linked_object_types" TEXT[] NOT NULL DEFAULT '{}',
    "title" JSONB NOT NULL,
    "description" TEXT,
    "type" TEXT NOT NULL,
    "max_length" INTEGER,
    "pattern" TEXT,
    "allowed_values" TEXT[] NOT NULL DEFAULT '{}',
    "json_schema" JSONB,
    "version" INTEGER NOT NULL DEFAULT 1,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "metadata_definition_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "metadata_definition_key" ON "metadata_definition"("tenant", "namespace", "key");
