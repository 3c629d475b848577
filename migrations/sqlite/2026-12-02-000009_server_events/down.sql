DROP TRIGGER servers_events_deleted;
DROP TRIGGER server_heartbeats_changed;
DROP TABLE server_events;
