-- The change log also names the key hashes that come into being: a new server's, and a
-- regenerated key. With them, a node's license index knows every hash that could have a
-- license without having been read, and refuses any other key without a database read
-- (a flood of well-formed unknown keys then costs nothing but a hash lookup).
CREATE OR REPLACE FUNCTION log_license_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        WITH next AS (UPDATE license_revision SET rev = rev + 1 RETURNING rev)
        INSERT INTO license_changes (rev, server_id, key_hash)
        SELECT next.rev, OLD.id, OLD.license_key_hash FROM next;
    END IF;
    IF TG_OP = 'INSERT'
       OR (TG_OP = 'UPDATE' AND NEW.license_key_hash IS DISTINCT FROM OLD.license_key_hash) THEN
        WITH next AS (UPDATE license_revision SET rev = rev + 1 RETURNING rev)
        INSERT INTO license_changes (rev, server_id, key_hash)
        SELECT next.rev, NEW.id, NEW.license_key_hash FROM next;
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER servers_license_created AFTER INSERT ON servers
FOR EACH ROW EXECUTE FUNCTION log_license_change();
