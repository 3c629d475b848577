-- A second factor (TOTP, RFC 6238) per user, and the recovery codes that stand in for it.
--
-- A row without `confirmed_at` is an enrolment in progress: its secret was shown but no
-- code has proved the user's device holds it yet, so sign-in does not ask for it.
CREATE TABLE totp_factors (
    user_id           BIGINT    PRIMARY KEY REFERENCES users (id),
    -- Sealed under the data key, bound to the user id.
    secret_ciphertext BYTEA     NOT NULL,
    confirmed_at      TIMESTAMP,
    -- The newest time step a code was accepted for: a code is good once, so only later
    -- steps are accepted after it.
    last_step         BIGINT    NOT NULL DEFAULT 0,
    created_at        TIMESTAMP NOT NULL
);

-- SHA-256 of each code: they are random (50 bits), so a slow hash would add nothing.
CREATE TABLE recovery_codes (
    id        BIGSERIAL PRIMARY KEY,
    user_id   BIGINT    NOT NULL REFERENCES users (id),
    code_hash BYTEA     NOT NULL,
    used_at   TIMESTAMP
);
CREATE INDEX recovery_codes_user_id ON recovery_codes (user_id);

-- What a person needs to recognise a session of theirs on the Security page.
ALTER TABLE sessions ADD COLUMN last_used_at TIMESTAMP;
ALTER TABLE sessions ADD COLUMN address TEXT;
ALTER TABLE sessions ADD COLUMN user_agent TEXT;
