-- The reference server's own table: the same shape and indexes as our `metadata`.
DROP TABLE IF EXISTS reference_metadata;
CREATE TABLE reference_metadata (
  id BIGSERIAL PRIMARY KEY,
  tenant TEXT NOT NULL,
  linked_object_type TEXT NOT NULL,
  identifier TEXT NOT NULL,
  namespace TEXT NOT NULL DEFAULT '',
  key TEXT COLLATE "C" NOT NULL,
  value TEXT NOT NULL,
  version INTEGER NOT NULL DEFAULT 1,
  created_at TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
  updated_at TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
  expires_at TIMESTAMPTZ(3)
);
CREATE INDEX reference_metadata_expires_at_idx ON reference_metadata (expires_at);
CREATE UNIQUE INDEX reference_metadata_entry_key
  ON reference_metadata (tenant, linked_object_type, identifier, namespace, key);
