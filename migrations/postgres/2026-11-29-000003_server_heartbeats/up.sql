-- Heartbeat bookkeeping moves to its own narrow table: a flush rewrites far fewer pages,
-- and updates stay HOT (no index covers these columns; fillfactor leaves room on the page).
-- No foreign key: a batch flushed just after an operator deleted a server must not fail;
-- the trigger below tidies up, and a stray row is never joined.
CREATE TABLE server_heartbeats (
    server_id         BIGINT    PRIMARY KEY,
    last_heartbeat_at TIMESTAMP NOT NULL,
    installed_version TEXT      NOT NULL,
    last_heartbeat_ip TEXT
) WITH (fillfactor = 70);

INSERT INTO server_heartbeats (server_id, last_heartbeat_at, installed_version, last_heartbeat_ip)
SELECT id, last_heartbeat_at, COALESCE(installed_version, ''), last_heartbeat_ip
FROM servers WHERE last_heartbeat_at IS NOT NULL;

ALTER TABLE servers DROP COLUMN installed_version;
ALTER TABLE servers DROP COLUMN last_heartbeat_at;
ALTER TABLE servers DROP COLUMN last_heartbeat_ip;

CREATE FUNCTION delete_server_heartbeat() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM server_heartbeats WHERE server_id = OLD.id;
    RETURN NULL;
END;
$$;

CREATE TRIGGER servers_heartbeat_deleted AFTER DELETE ON servers
FOR EACH ROW EXECUTE FUNCTION delete_server_heartbeat();
