-- METADATA_MAX_KEYS_PER_OBJECT held exactly under concurrent writers. Written by hand: Prisma's
-- schema has no functions.
--
-- The upsert statement counted the object's live keys in its own snapshot, so statements creating
-- new keys of one object at the same time each saw the others' keys as absent and could together
-- pass the limit by their number. A new key now asks metadata_admits_new_key, which takes the
-- object's lock first, then counts: VOLATILE, in READ COMMITTED, each statement in it takes a new
-- snapshot, so the count, taken once the lock is ours, sees every key committed by whoever held
-- the lock before. The lock is held until the writing statement's transaction ends, so the next
-- creator counts this one's key. Batches take the same lock (metadata.repository.ts) for their
-- whole transaction.

-- The object's lock, for the rest of the transaction. The two-key form keeps it apart from the
-- migrations' one-key lock (src/db/migrations.ts); 28007 is 0x6d67 ("mg"), the key batches took
-- before this function existed: instances of both versions, side by side, take the same lock. A
-- hash collision only makes two objects' writers wait for each other.
CREATE FUNCTION metadata_lock_object(p_tenant text, p_linked_object_type text, p_identifier text)
RETURNS void LANGUAGE sql VOLATILE AS $$
  SELECT pg_advisory_xact_lock(28007, hashtext(json_build_array(p_tenant, p_linked_object_type, p_identifier)::text))
$$;

-- Whether a write of the entry at p_clock may go ahead under a limit of p_max_keys live keys on
-- its object: it exists and is live (a concurrent writer created it meanwhile: the write updates
-- it), or the object has fewer live keys than the limit.
CREATE FUNCTION metadata_admits_new_key(
  p_tenant text, p_linked_object_type text, p_identifier text, p_namespace text, p_key text,
  p_clock timestamptz, p_max_keys int
) RETURNS boolean
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  PERFORM metadata_lock_object(p_tenant, p_linked_object_type, p_identifier);
  RETURN EXISTS (
      SELECT 1 FROM metadata
      WHERE tenant = p_tenant AND linked_object_type = p_linked_object_type AND identifier = p_identifier
        AND namespace = p_namespace AND key = p_key AND (expires_at IS NULL OR expires_at > p_clock))
    OR (SELECT count(*) FROM metadata
        WHERE tenant = p_tenant AND linked_object_type = p_linked_object_type AND identifier = p_identifier
          AND (expires_at IS NULL OR expires_at > p_clock)) < p_max_keys;
END
$$;
