DROP TRIGGER servers_search_owner;
DROP TRIGGER servers_search_delete;
DROP TRIGGER servers_search_update;
DROP TRIGGER servers_search_insert;
DROP TABLE servers_search;
DROP INDEX servers_by_status;
DROP INDEX servers_by_name;
DROP INDEX servers_by_status_and_grace_end;
DROP TABLE fleet_samples;
DROP TRIGGER servers_retired_keys_deleted;
DROP TRIGGER servers_key_retired;
DROP TABLE retired_keys;
DROP TRIGGER server_heartbeats_first;
DROP TRIGGER server_heartbeats_changed;
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
ALTER TABLE server_heartbeats DROP COLUMN offline_since;
