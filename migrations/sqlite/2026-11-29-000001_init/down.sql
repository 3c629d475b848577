DROP TABLE api_tokens;
DROP TRIGGER audit_log_no_delete;
DROP TRIGGER audit_log_no_update;
DROP TABLE audit_log;
DROP TABLE servers;
DROP TABLE sessions;
DROP TABLE users;
