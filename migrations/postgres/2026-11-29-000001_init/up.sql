-- Timestamps are UTC in `timestamp` (without time zone) columns, like the SQLite schema.

CREATE TABLE users (
    id            BIGSERIAL PRIMARY KEY,
    username      TEXT      NOT NULL UNIQUE,
    email         TEXT      NOT NULL,
    role          TEXT      NOT NULL CHECK (role IN ('admin', 'customer')),
    password_hash TEXT      NOT NULL,
    disabled      BOOLEAN   NOT NULL DEFAULT FALSE,
    created_at    TIMESTAMP NOT NULL,
    updated_at    TIMESTAMP NOT NULL
);
CREATE INDEX users_role_id ON users (role, id);

CREATE TABLE sessions (
    id          TEXT      PRIMARY KEY,
    user_id     BIGINT    NOT NULL REFERENCES users (id),
    created_at  TIMESTAMP NOT NULL,
    expires_at  TIMESTAMP NOT NULL,
    revoked_at  TIMESTAMP
);
CREATE INDEX sessions_user_id ON sessions (user_id);

-- fillfactor leaves room on each page so heartbeat updates stay HOT (no index rewrite).
CREATE TABLE servers (
    id                     BIGSERIAL PRIMARY KEY,
    owner_id               BIGINT    NOT NULL REFERENCES users (id),
    name                   TEXT      NOT NULL,
    license_key_hash       BYTEA     NOT NULL UNIQUE,
    license_key_ciphertext BYTEA     NOT NULL,
    license_key_last4      TEXT      NOT NULL,
    license_status         TEXT      NOT NULL DEFAULT 'ACTIVE'
                           CHECK (license_status IN ('ACTIVE', 'GRACE', 'EXPIRED')),
    grace_expires_at       TIMESTAMP,
    installed_version      TEXT,
    last_heartbeat_at      TIMESTAMP,
    last_heartbeat_ip      TEXT,
    license_issued_at      TIMESTAMP NOT NULL,
    license_rotated_at     TIMESTAMP,
    created_at             TIMESTAMP NOT NULL,
    updated_at             TIMESTAMP NOT NULL
) WITH (fillfactor = 70);
CREATE INDEX servers_owner_id ON servers (owner_id, id);
CREATE INDEX servers_grace ON servers (grace_expires_at) WHERE license_status = 'GRACE';

CREATE TABLE audit_log (
    id        BIGSERIAL PRIMARY KEY,
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

CREATE FUNCTION audit_log_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();

CREATE TABLE api_tokens (
    id           BIGSERIAL PRIMARY KEY,
    owner_id     BIGINT    NOT NULL REFERENCES users (id),
    name         TEXT      NOT NULL,
    prefix       TEXT      NOT NULL,
    token_hash   BYTEA     NOT NULL UNIQUE,
    scopes       TEXT      NOT NULL,
    created_at   TIMESTAMP NOT NULL,
    last_used_at TIMESTAMP,
    expires_at   TIMESTAMP,
    revoked_at   TIMESTAMP
);
