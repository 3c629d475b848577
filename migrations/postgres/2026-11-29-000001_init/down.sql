DROP TABLE api_tokens;
DROP TRIGGER audit_log_no_change ON audit_log;
DROP FUNCTION audit_log_append_only();
DROP TABLE audit_log;
DROP TABLE servers;
DROP TABLE sessions;
DROP TABLE users;
