DROP TRIGGER servers_license_created ON servers;

CREATE OR REPLACE FUNCTION log_license_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    WITH next AS (UPDATE license_revision SET rev = rev + 1 RETURNING rev)
    INSERT INTO license_changes (rev, server_id, key_hash)
    SELECT next.rev, OLD.id, OLD.license_key_hash FROM next;
    RETURN NULL;
END;
$$;
