-- Webhooks: endpoints, the events they hear, and each attempt to deliver one.
--
-- `events` holds the subscribed types between spaces (" license.revoked server.created "),
-- or "*" for every type, so that the fan-out below matches with one LIKE on both backends.
CREATE TABLE webhooks (
    id                         INTEGER   PRIMARY KEY AUTOINCREMENT,
    url                        TEXT      NOT NULL,
    description                TEXT      NOT NULL DEFAULT '',
    events                     TEXT      NOT NULL,
    enabled                    BOOLEAN   NOT NULL DEFAULT 1,
    -- Sealed under the data key; the previous secret keeps signing until it expires.
    secret_ciphertext          BLOB      NOT NULL,
    previous_secret_ciphertext BLOB,
    previous_secret_expires_at TIMESTAMP,
    disabled_reason            TEXT,
    -- The first failure since the last success: how long the endpoint has been failing.
    failing_since              TIMESTAMP,
    created_at                 TIMESTAMP NOT NULL,
    updated_at                 TIMESTAMP NOT NULL
);

-- What happened, written in the transaction of the action that caused it.
CREATE TABLE webhook_events (
    id      INTEGER   PRIMARY KEY AUTOINCREMENT,
    -- The `webhook-id` receivers de-duplicate by.
    msg_id  TEXT      NOT NULL UNIQUE,
    type    TEXT      NOT NULL,
    at      TIMESTAMP NOT NULL,
    -- The body sent, byte for byte: a retry signs the same bytes.
    payload TEXT      NOT NULL
);
CREATE INDEX webhook_events_by_time ON webhook_events (at);

-- One per event and endpoint that hears it.
CREATE TABLE webhook_deliveries (
    id              INTEGER   PRIMARY KEY AUTOINCREMENT,
    webhook_id      BIGINT    NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    event_id        BIGINT    NOT NULL REFERENCES webhook_events (id),
    -- pending, delivered or failed (retries exhausted).
    state           TEXT      NOT NULL DEFAULT 'pending',
    attempts        INTEGER   NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMP,
    -- A node's claim while it attempts; a node that stops lets it lapse.
    claimed_until   TIMESTAMP,
    created_at      TIMESTAMP NOT NULL,
    updated_at      TIMESTAMP NOT NULL
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (state, next_attempt_at);
CREATE INDEX webhook_deliveries_by_webhook ON webhook_deliveries (webhook_id, id);

CREATE TABLE webhook_attempts (
    id            INTEGER   PRIMARY KEY AUTOINCREMENT,
    delivery_id   BIGINT    NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    webhook_id    BIGINT    NOT NULL,
    at            TIMESTAMP NOT NULL,
    status_code   INTEGER,
    error         TEXT,
    duration_ms   BIGINT    NOT NULL,
    response_head TEXT      NOT NULL DEFAULT ''
);
CREATE INDEX webhook_attempts_by_webhook ON webhook_attempts (webhook_id, id);
CREATE INDEX webhook_attempts_by_delivery ON webhook_attempts (delivery_id, id);

-- What the heartbeat bookkeeping and the fleet job record (see server_events) reaches
-- webhooks through a relay that every node runs: it claims the rows not yet relayed, in
-- the order written, publishes them and marks them, in one transaction. A flag rather
-- than a cursor: ids are handed out before commit, so a cursor could pass an event whose
-- transaction had yet to commit. The history from before webhooks is not news.
ALTER TABLE server_events ADD COLUMN relayed BOOLEAN NOT NULL DEFAULT 0;
UPDATE server_events SET relayed = 1;
CREATE INDEX server_events_to_relay ON server_events (id) WHERE NOT relayed;
