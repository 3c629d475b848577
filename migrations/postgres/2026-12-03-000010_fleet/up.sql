-- The fleet over time, and the events a flush cannot see by itself.
--
-- `offline_since` is set, once per transition, by the fleet job (one node per sample) when
-- a server's last heartbeat falls behind the offline threshold; it also writes the
-- `went_offline` event then. A flush that brings a newer heartbeat clears it, and the
-- trigger turns that clearing into `came_online`. No index covers the column, so the
-- flush's updates stay HOT.
ALTER TABLE server_heartbeats ADD COLUMN offline_since TIMESTAMP;

CREATE OR REPLACE FUNCTION server_heartbeat_events() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.offline_since IS NOT NULL AND NEW.offline_since IS NULL THEN
        INSERT INTO server_events (server_id, at, kind, data)
        VALUES (NEW.server_id, NEW.last_heartbeat_at, 'came_online',
                json_build_object('offlineSince',
                    to_char(OLD.offline_since, 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'))::text);
    END IF;
    IF OLD.installed_version IS DISTINCT FROM NEW.installed_version THEN
        INSERT INTO server_events (server_id, at, kind, data)
        VALUES (NEW.server_id, NEW.last_heartbeat_at, 'version_changed',
                json_build_object('from', OLD.installed_version, 'to', NEW.installed_version)::text);
    END IF;
    IF OLD.last_heartbeat_ip IS DISTINCT FROM NEW.last_heartbeat_ip THEN
        INSERT INTO server_events (server_id, at, kind, data)
        VALUES (NEW.server_id, NEW.last_heartbeat_at, 'address_changed',
                json_build_object('from', OLD.last_heartbeat_ip, 'to', NEW.last_heartbeat_ip)::text);
    END IF;
    RETURN NULL;
END;
$$;

DROP TRIGGER server_heartbeats_changed ON server_heartbeats;
CREATE TRIGGER server_heartbeats_changed AFTER UPDATE ON server_heartbeats
FOR EACH ROW
WHEN (OLD.installed_version IS DISTINCT FROM NEW.installed_version
   OR OLD.last_heartbeat_ip IS DISTINCT FROM NEW.last_heartbeat_ip
   OR (OLD.offline_since IS NOT NULL AND NEW.offline_since IS NULL))
EXECUTE FUNCTION server_heartbeat_events();

-- The first heartbeat of an installation brings it online. (An upsert that updates fires
-- the update trigger only.)
-- A flush that lands just after its server was deleted writes a stray row (see
-- `server_heartbeats`), which is no news.
CREATE FUNCTION server_heartbeat_first() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM servers WHERE id = NEW.server_id) THEN
        INSERT INTO server_events (server_id, at, kind, data)
        VALUES (NEW.server_id, NEW.last_heartbeat_at, 'came_online', '{}');
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER server_heartbeats_first AFTER INSERT ON server_heartbeats
FOR EACH ROW EXECUTE FUNCTION server_heartbeat_first();

-- Keys a regenerate replaced, so that a proxy still calling with one can be told apart
-- from a stranger (`old_key_used`). Written by trigger, so a hand edit counts too.
CREATE TABLE retired_keys (
    key_hash   BYTEA     PRIMARY KEY,
    server_id  BIGINT    NOT NULL,
    retired_at TIMESTAMP NOT NULL
);
CREATE INDEX retired_keys_by_time ON retired_keys (retired_at);

CREATE FUNCTION retire_key() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO retired_keys (key_hash, server_id, retired_at)
    VALUES (OLD.license_key_hash, OLD.id, clock_timestamp() AT TIME ZONE 'UTC')
    ON CONFLICT (key_hash) DO UPDATE
        SET server_id = EXCLUDED.server_id, retired_at = EXCLUDED.retired_at;
    RETURN NULL;
END;
$$;

CREATE TRIGGER servers_key_retired AFTER UPDATE OF license_key_hash ON servers
FOR EACH ROW WHEN (OLD.license_key_hash IS DISTINCT FROM NEW.license_key_hash)
EXECUTE FUNCTION retire_key();

CREATE FUNCTION delete_retired_keys() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM retired_keys WHERE server_id = OLD.id;
    RETURN NULL;
END;
$$;

CREATE TRIGGER servers_retired_keys_deleted AFTER DELETE ON servers
FOR EACH ROW EXECUTE FUNCTION delete_retired_keys();

-- One row per sampling period for the whole cluster: the node whose insert of `slot`
-- succeeds takes the sample; the counts stay NULL until it has.
CREATE TABLE fleet_samples (
    slot            BIGINT    PRIMARY KEY,
    at              TIMESTAMP NOT NULL,
    active          BIGINT,
    grace           BIGINT,
    expired         BIGINT,
    online          BIGINT,
    late            BIGINT,
    offline         BIGINT,
    never           BIGINT,
    old_keys_in_use BIGINT,
    -- A JSON array of {version, count}, most installed first.
    versions        TEXT
);
CREATE INDEX fleet_samples_by_time ON fleet_samples (at);

-- Grace windows ending soon, and the GRACE and EXPIRED filters, without a scan. Only admin
-- actions and the expiry sweep write these columns; heartbeats never do.
CREATE INDEX servers_by_status_and_grace_end ON servers (license_status, grace_expires_at);
-- The server list by name, and by status newest first, at any depth (same reason: only
-- admin actions write these columns).
CREATE INDEX servers_by_name ON servers (name, id);
CREATE INDEX servers_by_status ON servers (license_status, id);
