DROP INDEX server_events_to_relay;
ALTER TABLE server_events DROP COLUMN relayed;
DROP TABLE webhook_attempts;
DROP TABLE webhook_deliveries;
DROP TABLE webhook_events;
DROP TABLE webhooks;
