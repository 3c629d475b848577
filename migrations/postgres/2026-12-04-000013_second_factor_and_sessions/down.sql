ALTER TABLE sessions DROP COLUMN user_agent;
ALTER TABLE sessions DROP COLUMN address;
ALTER TABLE sessions DROP COLUMN last_used_at;
DROP TABLE recovery_codes;
DROP TABLE totp_factors;
