-- Heartbeat bookkeeping moves to its own narrow table. Flushes rewrite every page they
-- touch: ~60 of these rows fit a page against ~15 wide server rows, so a batch of
-- heartbeats dirties (and writes to the WAL) a fraction of the pages it used to.
-- No foreign key: a batch flushed just after an operator deleted a server must not fail;
-- the trigger below tidies up, and a stray row is never joined.
CREATE TABLE server_heartbeats (
    server_id         INTEGER   PRIMARY KEY,
    last_heartbeat_at TIMESTAMP NOT NULL,
    installed_version TEXT      NOT NULL,
    last_heartbeat_ip TEXT
);

INSERT INTO server_heartbeats (server_id, last_heartbeat_at, installed_version, last_heartbeat_ip)
SELECT id, last_heartbeat_at, COALESCE(installed_version, ''), last_heartbeat_ip
FROM servers WHERE last_heartbeat_at IS NOT NULL;

ALTER TABLE servers DROP COLUMN installed_version;
ALTER TABLE servers DROP COLUMN last_heartbeat_at;
ALTER TABLE servers DROP COLUMN last_heartbeat_ip;

CREATE TRIGGER servers_heartbeat_deleted AFTER DELETE ON servers
BEGIN
    DELETE FROM server_heartbeats WHERE server_id = OLD.id;
END;
