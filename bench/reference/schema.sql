-- The reference server's own table: the same shape and indexes as our `metadata` without what only
-- our features add (value_json and the search indexes, sequence, the history table): the entry's
-- key as primary key, and the expiry index over the rows that expire.
DROP TABLE IF EXISTS reference_metadata;
CREATE TABLE reference_metadata (
  tenant TEXT NOT NULL,
  linked_object_type TEXT NOT NULL,
  identifier TEXT NOT NULL,
  namespace TEXT NOT NULL DEFAULT '',
  key TEXT COLLATE "C" NOT NULL,
  value TEXT NOT NULL,
  version INTEGER NOT NULL DEFAULT 1,
  created_at TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
  updated_at TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
  expires_at TIMESTAMPTZ(3),
  CONSTRAINT reference_metadata_entry_key PRIMARY KEY (tenant, linked_object_type, identifier, namespace, key)
);
CREATE INDEX reference_metadata_expires_at_idx ON reference_metadata (expires_at) WHERE expires_at IS NOT NULL;
