DROP TRIGGER servers_events_deleted ON servers;
DROP FUNCTION delete_server_events();
DROP TRIGGER server_heartbeats_changed ON server_heartbeats;
DROP FUNCTION server_heartbeat_events();
DROP TABLE server_events;
