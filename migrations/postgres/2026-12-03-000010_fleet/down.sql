DROP INDEX servers_by_status;
DROP INDEX servers_by_name;
DROP INDEX servers_by_status_and_grace_end;
DROP TABLE fleet_samples;
DROP TRIGGER servers_retired_keys_deleted ON servers;
DROP FUNCTION delete_retired_keys();
DROP TRIGGER servers_key_retired ON servers;
DROP FUNCTION retire_key();
DROP TABLE retired_keys;
DROP TRIGGER server_heartbeats_first ON server_heartbeats;
DROP FUNCTION server_heartbeat_first();
DROP TRIGGER server_heartbeats_changed ON server_heartbeats;
ALTER TABLE server_heartbeats DROP COLUMN offline_since;
CREATE OR REPLACE FUNCTION server_heartbeat_events() RETURNS trigger LANGUAGE plpgsql AS $$
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
