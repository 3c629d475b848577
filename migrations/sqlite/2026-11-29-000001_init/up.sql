-- Timestamps are UTC, stored as 'YYYY-MM-DD HH:MM:SS[.ffffff]' text so operators can read and
-- hand-edit them (the ops guide tells them to edit grace_expires_at directly).

CREATE TABLE users (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    username      TEXT    NOT NULL UNIQUE,
    email         TEXT    NOT NULL,
    role          TEXT    NOT NULL CHECK (role IN ('admin', 'customer')),
    password_hash TEXT    NOT NULL,
    disabled      BOOLEAN NOT NULL DEFAULT 0,
    created_at    TIMESTAMP NOT NULL,
    updated_at    TIMESTAMP NOT NULL
);
CREATE INDEX users_role_id ON users (role, id);

-- One row per signed-in session: a JWT names its session, so logout and disabling a user
-- take effect at once.
CREATE TABLE sessions (
    id          TEXT      PRIMARY KEY,
    user_id     BIGINT    NOT NULL REFERENCES users (id),
    created_at  TIMESTAMP NOT NULL,
    expires_at  TIMESTAMP NOT NULL,
    revoked_at  TIMESTAMP
);
CREATE INDEX sessions_user_id ON sessions (user_id);

-- A server carries its one license in the same row: the heartbeat reads one row by key hash.
CREATE TABLE servers (
    id                     INTEGER PRIMARY KEY AUTOINCREMENT,
    owner_id               BIGINT  NOT NULL REFERENCES users (id),
    name                   TEXT    NOT NULL,
    license_key_hash       BLOB    NOT NULL UNIQUE,
    license_key_ciphertext BLOB    NOT NULL,
    license_key_last4      TEXT    NOT NULL,
    license_status         TEXT    NOT NULL DEFAULT 'ACTIVE'
                           CHECK (license_status IN ('ACTIVE', 'GRACE', 'EXPIRED')),
    grace_expires_at       TIMESTAMP,
    installed_version      TEXT,
    last_heartbeat_at      TIMESTAMP,
    last_heartbeat_ip      TEXT,
    license_issued_at      TIMESTAMP NOT NULL,
    license_rotated_at     TIMESTAMP,
    created_at             TIMESTAMP NOT NULL,
    updated_at             TIMESTAMP NOT NULL
);
CREATE INDEX servers_owner_id ON servers (owner_id, id);
CREATE INDEX servers_grace ON servers (grace_expires_at) WHERE license_status = 'GRACE';

CREATE TABLE audit_log (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    at        TIMESTAMP NOT NULL,
    action    TEXT      NOT NULL,
    target    BIGINT,
    user_id   BIGINT,
    username  TEXT,
    metadata  TEXT      NOT NULL DEFAULT '{}',
    ip        TEXT
);
CREATE INDEX audit_log_action_id ON audit_log (action, id);
CREATE INDEX audit_log_target_id ON audit_log (target, id);
CREATE INDEX audit_log_user_id_id ON audit_log (user_id, id);
CREATE INDEX audit_log_at ON audit_log (at);

-- The audit log is append-only, whoever connects to the database.
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;

CREATE TABLE api_tokens (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    owner_id     BIGINT    NOT NULL REFERENCES users (id),
    name         TEXT      NOT NULL,
    prefix       TEXT      NOT NULL,
    token_hash   BLOB      NOT NULL UNIQUE,
    scopes       TEXT      NOT NULL,
    created_at   TIMESTAMP NOT NULL,
    last_used_at TIMESTAMP,
    expires_at   TIMESTAMP,
    revoked_at   TIMESTAMP
);
