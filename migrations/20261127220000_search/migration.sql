-- Search by metadata (metadataSearch). Written by hand: Prisma's schema cannot express a generated
-- column, an expression index or a function (`npm run db:diff` therefore proposes to drop the two
-- indexes below; ignore that part of its output). schema.prisma declares value_json, read-only.

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

-- What the containment search looks for, as one jsonb document: the entry's tenant, object type,
-- namespace and key next to its parsed value. One GIN index over it (jsonb_path_ops: a hash per
-- path, so long values cost no more) answers tenant + type + namespace + key + containment at once.
-- jsonb_build_object is only STABLE (for "any" arguments); over text and jsonb it is immutable,
-- which an index expression needs, hence the wrapper. Not inlined (its body is less immutable than
-- it), so queries must call this same function to use the index.
CREATE FUNCTION metadata_search_doc(tenant text, linked_object_type text, namespace text, key text, value_json jsonb)
RETURNS jsonb LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT jsonb_build_object('t', tenant, 'o', linked_object_type, 'n', namespace, 'k', key, 'v', value_json)
$$;

-- Entries whose value is not JSON are not in it: they can never match a containment search.
CREATE INDEX "metadata_search_json_idx" ON "metadata"
  USING gin (metadata_search_doc("tenant", "linked_object_type", "namespace", "key", "value_json") jsonb_path_ops)
  WHERE "value_json" IS NOT NULL;

-- Exact text search: the value's md5, not the value (up to 65,535 characters would pass btree's
-- ~2,700-byte row limit), then the identifier, so that pages come out of the index in order.
CREATE INDEX "metadata_search_value_idx" ON "metadata"
  ("tenant", "linked_object_type", "namespace", "key", md5("value"), "identifier");
