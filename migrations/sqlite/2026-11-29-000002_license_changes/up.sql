-- Every change that can alter a heartbeat verdict (key, status, grace end, or the row going
-- away), numbered in commit order, holding the key hash the row had before. Each node keeps
-- an in-memory license index and drops exactly these keys before it answers the next
-- heartbeat. Triggers, not application code, fill it: an operator's hand edit counts too.
-- SQLite serializes writers, so AUTOINCREMENT order is commit order, without gaps.
CREATE TABLE license_changes (
    rev       INTEGER   PRIMARY KEY AUTOINCREMENT,
    server_id BIGINT    NOT NULL,
    key_hash  BLOB      NOT NULL,
    at        TIMESTAMP NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now'))
);

CREATE TRIGGER servers_license_changed
AFTER UPDATE OF license_key_hash, license_status, grace_expires_at ON servers
WHEN OLD.license_key_hash IS NOT NEW.license_key_hash
  OR OLD.license_status IS NOT NEW.license_status
  OR OLD.grace_expires_at IS NOT NEW.grace_expires_at
BEGIN
    INSERT INTO license_changes (server_id, key_hash) VALUES (OLD.id, OLD.license_key_hash);
END;

CREATE TRIGGER servers_license_deleted AFTER DELETE ON servers
BEGIN
    INSERT INTO license_changes (server_id, key_hash) VALUES (OLD.id, OLD.license_key_hash);
END;
