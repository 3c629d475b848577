DROP TRIGGER servers_heartbeat_deleted;
ALTER TABLE servers ADD COLUMN installed_version TEXT;
ALTER TABLE servers ADD COLUMN last_heartbeat_at TIMESTAMP;
ALTER TABLE servers ADD COLUMN last_heartbeat_ip TEXT;
UPDATE servers SET
    installed_version = (SELECT installed_version FROM server_heartbeats WHERE server_id = servers.id),
    last_heartbeat_at = (SELECT last_heartbeat_at FROM server_heartbeats WHERE server_id = servers.id),
    last_heartbeat_ip = (SELECT last_heartbeat_ip FROM server_heartbeats WHERE server_id = servers.id);
DROP TABLE server_heartbeats;
