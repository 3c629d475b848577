-- `admin`, `Admin` and `ADMIN` are one account name. pulsekey checks for existing
-- case-duplicates before this runs and stops with their names (the index would only say
-- "UNIQUE constraint failed").
CREATE UNIQUE INDEX users_username_lower ON users (lower(username));

-- Failed sign-ins, counted in the database so that every node enforces one limit.
-- scope: 'account' (lowercased username), 'address', or 'pair' (username and address).
CREATE TABLE login_failures (
    scope        TEXT      NOT NULL,
    subject      TEXT      NOT NULL,
    window_start TIMESTAMP NOT NULL,
    failures     BIGINT    NOT NULL,
    last_at      TIMESTAMP NOT NULL,
    PRIMARY KEY (scope, subject)
);
CREATE INDEX login_failures_window_start ON login_failures (window_start);
