-- The change log also names the key hashes that come into being: a new server's, and a
-- regenerated key. With them, a node's license index knows every hash that could have a
-- license without having been read, and refuses any other key without a database read
-- (a flood of well-formed unknown keys then costs nothing but a hash lookup).
DROP TRIGGER servers_license_changed;

CREATE TRIGGER servers_license_changed
AFTER UPDATE OF license_key_hash, license_status, grace_expires_at ON servers
WHEN OLD.license_key_hash IS NOT NEW.license_key_hash
  OR OLD.license_status IS NOT NEW.license_status
  OR OLD.grace_expires_at IS NOT NEW.grace_expires_at
BEGIN
    INSERT INTO license_changes (server_id, key_hash) VALUES (OLD.id, OLD.license_key_hash);
    INSERT INTO license_changes (server_id, key_hash)
    SELECT NEW.id, NEW.license_key_hash WHERE NEW.license_key_hash IS NOT OLD.license_key_hash;
END;

CREATE TRIGGER servers_license_created AFTER INSERT ON servers
BEGIN
    INSERT INTO license_changes (server_id, key_hash) VALUES (NEW.id, NEW.license_key_hash);
END;
