DROP TRIGGER servers_heartbeat_deleted ON servers;
DROP FUNCTION delete_server_heartbeat();
ALTER TABLE servers ADD COLUMN installed_version TEXT;
ALTER TABLE servers ADD COLUMN last_heartbeat_at TIMESTAMP;
ALTER TABLE servers ADD COLUMN last_heartbeat_ip TEXT;
UPDATE servers s SET installed_version = h.installed_version,
    last_heartbeat_at = h.last_heartbeat_at, last_heartbeat_ip = h.last_heartbeat_ip
FROM server_heartbeats h WHERE h.server_id = s.id;
DROP TABLE server_heartbeats;
