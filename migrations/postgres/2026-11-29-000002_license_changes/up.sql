-- Every change that can alter a heartbeat verdict (key, status, grace end, or the row going
-- away), numbered in commit order, holding the key hash the row had before. Each node keeps
-- an in-memory license index and drops exactly these keys before it answers the next
-- heartbeat. Triggers, not application code, fill it: an operator's hand edit counts too.
CREATE TABLE license_changes (
    rev       BIGINT    PRIMARY KEY,
    server_id BIGINT    NOT NULL,
    key_hash  BYTEA     NOT NULL,
    at        TIMESTAMP NOT NULL DEFAULT (now() AT TIME ZONE 'UTC')
);

-- A sequence would hand out numbers in start order, not commit order: a node could read
-- revision 8 while 7 is still uncommitted and skip it forever. Taking the next number from
-- this row holds its lock until commit, so revisions commit in order and without gaps.
CREATE TABLE license_revision (
    singleton BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (singleton),
    rev       BIGINT  NOT NULL
);
INSERT INTO license_revision (singleton, rev) VALUES (TRUE, 0);

CREATE FUNCTION log_license_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    WITH next AS (UPDATE license_revision SET rev = rev + 1 RETURNING rev)
    INSERT INTO license_changes (rev, server_id, key_hash)
    SELECT next.rev, OLD.id, OLD.license_key_hash FROM next;
    RETURN NULL;
END;
$$;

CREATE TRIGGER servers_license_changed
AFTER UPDATE OF license_key_hash, license_status, grace_expires_at ON servers
FOR EACH ROW
WHEN (OLD.license_key_hash IS DISTINCT FROM NEW.license_key_hash
   OR OLD.license_status IS DISTINCT FROM NEW.license_status
   OR OLD.grace_expires_at IS DISTINCT FROM NEW.grace_expires_at)
EXECUTE FUNCTION log_license_change();

CREATE TRIGGER servers_license_deleted AFTER DELETE ON servers
FOR EACH ROW EXECUTE FUNCTION log_license_change();
