DROP TRIGGER servers_license_created;
DROP TRIGGER servers_license_changed;

CREATE TRIGGER servers_license_changed
AFTER UPDATE OF license_key_hash, license_status, grace_expires_at ON servers
WHEN OLD.license_key_hash IS NOT NEW.license_key_hash
  OR OLD.license_status IS NOT NEW.license_status
  OR OLD.grace_expires_at IS NOT NEW.grace_expires_at
BEGIN
    INSERT INTO license_changes (server_id, key_hash) VALUES (OLD.id, OLD.license_key_hash);
END;
