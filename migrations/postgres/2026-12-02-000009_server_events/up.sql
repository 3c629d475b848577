-- What happened to an installation, for its page and for support ("the proxy keeps
-- stopping"). A trigger on the heartbeat bookkeeping writes the changes a flush makes, so an
-- event exists once however many nodes flush, a stale flush (which changes nothing) writes
-- none, and no request waits for it. The WHEN clause keeps unchanged rows from calling the
-- function at all; the bookkeeping's updates stay HOT (no index covers its columns).
CREATE TABLE server_events (
    id        BIGSERIAL PRIMARY KEY,
    server_id BIGINT    NOT NULL,
    at        TIMESTAMP NOT NULL,
    kind      TEXT      NOT NULL,
    data      TEXT      NOT NULL DEFAULT '{}'
);
CREATE INDEX server_events_by_server ON server_events (server_id, id);
CREATE INDEX server_events_by_time ON server_events (at);

CREATE FUNCTION server_heartbeat_events() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.installed_version IS DISTINCT FROM NEW.installed_version THEN
        INSERT INTO server_events (server_id, at, kind, data)
        VALUES (NEW.server_id, NEW.last_heartbeat_at, 'version_changed',
                json_build_object('from', OLD.installed_version, 'to', NEW.installed_version)::text);
    END IF;
    IF OLD.last_heartbeat_ip IS DISTINCT FROM NEW.last_heartbeat_ip THEN
        INSERT INTO server_events (server_id, at, kind, data)
        VALUES (NEW.server_id, NEW.last_heartbeat_at, 'address_changed',
                json_build_object('from', OLD.last_heartbeat_ip, 'to', NEW.last_heartbeat_ip)::text);
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER server_heartbeats_changed AFTER UPDATE ON server_heartbeats
FOR EACH ROW
WHEN (OLD.installed_version IS DISTINCT FROM NEW.installed_version
   OR OLD.last_heartbeat_ip IS DISTINCT FROM NEW.last_heartbeat_ip)
EXECUTE FUNCTION server_heartbeat_events();

CREATE FUNCTION delete_server_events() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM server_events WHERE server_id = OLD.id;
    RETURN NULL;
END;
$$;

CREATE TRIGGER servers_events_deleted AFTER DELETE ON servers
FOR EACH ROW EXECUTE FUNCTION delete_server_events();
