-- Search by metadata (metadataSearch). Authored with `prisma migrate diff --from-schema-datamodel
-- <previous schema.prisma> --to-schema-datamodel schema.prisma --script` (`npm run db:diff` stops at
-- "missing migration_lock.toml" in this repository), which gives only
-- `ALTER TABLE "metadata" ADD COLUMN "value_json" JSONB;`. Edited by hand, since Prisma's schema
-- cannot express them: the column is GENERATED, and the two functions and two expression indexes
-- below are added. schema.prisma declares value_json; the application never writes it.

-- The value parsed as jsonb when the text is valid JSON, else NULL: values stay opaque TEXT and
-- may be anything. IMMUTABLE is true (text -> jsonb depends on no setting), which a generated column
-- needs. The exception block costs a subtransaction per call, measured in the search note (write
-- path, 2,000 sequential updateMetadata calls).
-- Text with more than 1,000 '[' or '{' is not parsed (NULL): it is the only cheap bound on nesting,
-- and nesting ~10,000 levels deep crashes PGlite (WASM stack; the database answers nothing
-- afterwards) where PostgreSQL raises "stack depth limit exceeded". The API's jsonValue stops at
-- the same 1,000 (MAX_JSON_DEPTH), counted by level instead.
CREATE FUNCTION metadata_try_jsonb(value text) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
BEGIN
  IF length(value) > 1000 AND length(value) - length(translate(value, '[{', '')) > 1000 THEN
    RETURN NULL;
  END IF;
  RETURN value::jsonb;
EXCEPTION WHEN others THEN
  RETURN NULL;
END
$$;

-- Computed by PostgreSQL on every write path (upsert, batch upsert, anything else): nothing in the
-- application can forget it.
ALTER TABLE "metadata" ADD COLUMN "value_json" JSONB GENERATED ALWAYS AS (metadata_try_jsonb("value")) STORED;

-- What the containment search looks for, as one jsonb document: {"<scope>": value_json}, where
-- <scope> spells tenant, linked_object_type, namespace and key as concatenated quoted literals
-- (unambiguous). jsonb_path_ops indexes a hash of each leaf's whole path, so every entry of the GIN
-- index below is specific to one scope and one path to a leaf of the value: a search reads the
-- posting lists of its own scope only (no list of "every row of the tenant" to intersect), and long
-- values cost no more. Built from immutable functions only (jsonb_build_object and array output are
-- merely STABLE), so PostgreSQL inlines this function, in the index expression and in queries alike:
-- no function call per row written or rechecked. Queries call this same function to use the index.
CREATE FUNCTION metadata_search_doc(tenant text, linked_object_type text, namespace text, key text, value_json jsonb)
RETURNS jsonb LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT jsonb_set('{}'::jsonb,
    ARRAY[quote_literal(tenant) || quote_literal(linked_object_type) || quote_literal(namespace) || quote_literal(key)],
    value_json)
$$;

-- Entries whose value is not JSON are not in it: they can never match a containment search.
-- The recheck compares the documents themselves: the scope must be equal, not just hash alike.
CREATE INDEX "metadata_search_json_idx" ON "metadata"
  USING gin (metadata_search_doc("tenant", "linked_object_type", "namespace", "key", "value_json") jsonb_path_ops)
  WHERE "value_json" IS NOT NULL;

-- Exact text search: the value's md5, not the value (up to 65,535 characters would pass btree's
-- ~2,700-byte row limit), then the identifier, so that pages come out of the index in order.
CREATE INDEX "metadata_search_value_idx" ON "metadata"
  ("tenant", "linked_object_type", "namespace", "key", md5("value"), "identifier");
