-- What happened to an installation, for its page and for support ("the proxy keeps
-- stopping"). Triggers on the heartbeat bookkeeping write the changes a flush makes, so an
-- event exists once however many nodes flush, a stale flush (which changes nothing) writes
-- none, and no request waits for it.
CREATE TABLE server_events (
    id        INTEGER   PRIMARY KEY AUTOINCREMENT,
    server_id BIGINT    NOT NULL,
    at        TIMESTAMP NOT NULL,
    kind      TEXT      NOT NULL,
    data      TEXT      NOT NULL DEFAULT '{}'
);
CREATE INDEX server_events_by_server ON server_events (server_id, id);
CREATE INDEX server_events_by_time ON server_events (at);

-- One trigger, so that a flush changing both writes them in the same order as on
-- PostgreSQL: the version first.
CREATE TRIGGER server_heartbeats_changed
AFTER UPDATE OF installed_version, last_heartbeat_ip ON server_heartbeats
WHEN OLD.installed_version IS NOT NEW.installed_version
  OR OLD.last_heartbeat_ip IS NOT NEW.last_heartbeat_ip
BEGIN
    INSERT INTO server_events (server_id, at, kind, data)
    SELECT NEW.server_id, NEW.last_heartbeat_at, 'version_changed',
           json_object('from', OLD.installed_version, 'to', NEW.installed_version)
    WHERE OLD.installed_version IS NOT NEW.installed_version;
    INSERT INTO server_events (server_id, at, kind, data)
    SELECT NEW.server_id, NEW.last_heartbeat_at, 'address_changed',
           json_object('from', OLD.last_heartbeat_ip, 'to', NEW.last_heartbeat_ip)
    WHERE OLD.last_heartbeat_ip IS NOT NEW.last_heartbeat_ip;
END;

CREATE TRIGGER servers_events_deleted AFTER DELETE ON servers
BEGIN
    DELETE FROM server_events WHERE server_id = OLD.id;
END;
