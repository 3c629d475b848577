-- The fleet over time, and the events a flush cannot see by itself.
--
-- `offline_since` is set, once per transition, by the fleet job (one node per sample) when
-- a server's last heartbeat falls behind the offline threshold; it also writes the
-- `went_offline` event then. A flush that brings a newer heartbeat clears it, and the
-- trigger turns that clearing into `came_online`. No index covers the column, so flushes
-- cost what they did.
ALTER TABLE server_heartbeats ADD COLUMN offline_since TIMESTAMP;

-- Rewritten so that one trigger writes a flush's events in one order on both backends:
-- came_online, then the version, then the address.
DROP TRIGGER server_heartbeats_changed;

CREATE TRIGGER server_heartbeats_changed
AFTER UPDATE ON server_heartbeats
WHEN OLD.installed_version IS NOT NEW.installed_version
  OR OLD.last_heartbeat_ip IS NOT NEW.last_heartbeat_ip
  OR (OLD.offline_since IS NOT NULL AND NEW.offline_since IS NULL)
BEGIN
    INSERT INTO server_events (server_id, at, kind, data)
    SELECT NEW.server_id, NEW.last_heartbeat_at, 'came_online',
           json_object('offlineSince', strftime('%Y-%m-%dT%H:%M:%fZ', OLD.offline_since))
    WHERE OLD.offline_since IS NOT NULL AND NEW.offline_since IS NULL;
    INSERT INTO server_events (server_id, at, kind, data)
    SELECT NEW.server_id, NEW.last_heartbeat_at, 'version_changed',
           json_object('from', OLD.installed_version, 'to', NEW.installed_version)
    WHERE OLD.installed_version IS NOT NEW.installed_version;
    INSERT INTO server_events (server_id, at, kind, data)
    SELECT NEW.server_id, NEW.last_heartbeat_at, 'address_changed',
           json_object('from', OLD.last_heartbeat_ip, 'to', NEW.last_heartbeat_ip)
    WHERE OLD.last_heartbeat_ip IS NOT NEW.last_heartbeat_ip;
END;

-- The first heartbeat of an installation brings it online. (An upsert that updates fires
-- the update trigger only.) A flush that lands just after its server was deleted writes a
-- stray row (see `server_heartbeats`), which is no news.
CREATE TRIGGER server_heartbeats_first
AFTER INSERT ON server_heartbeats
WHEN EXISTS (SELECT 1 FROM servers WHERE id = NEW.server_id)
BEGIN
    INSERT INTO server_events (server_id, at, kind, data)
    VALUES (NEW.server_id, NEW.last_heartbeat_at, 'came_online', '{}');
END;

-- Keys a regenerate replaced, so that a proxy still calling with one can be told apart
-- from a stranger (`old_key_used`). Written by trigger, so a hand edit counts too.
CREATE TABLE retired_keys (
    key_hash   BLOB      PRIMARY KEY,
    server_id  BIGINT    NOT NULL,
    retired_at TIMESTAMP NOT NULL
);
CREATE INDEX retired_keys_by_time ON retired_keys (retired_at);

CREATE TRIGGER servers_key_retired
AFTER UPDATE OF license_key_hash ON servers
WHEN OLD.license_key_hash IS NOT NEW.license_key_hash
BEGIN
    INSERT OR REPLACE INTO retired_keys (key_hash, server_id, retired_at)
    VALUES (OLD.license_key_hash, OLD.id, strftime('%Y-%m-%d %H:%M:%f', 'now'));
END;

CREATE TRIGGER servers_retired_keys_deleted AFTER DELETE ON servers
BEGIN
    DELETE FROM retired_keys WHERE server_id = OLD.id;
END;

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

-- Substring search over server names and their owners' usernames without reading every
-- server: a trigram index (case-insensitive) kept in step by triggers, as users have.
CREATE VIRTUAL TABLE servers_search USING fts5(name, owner, tokenize = 'trigram');
INSERT INTO servers_search (rowid, name, owner)
SELECT servers.id, servers.name, users.username FROM servers JOIN users ON users.id = servers.owner_id;

CREATE TRIGGER servers_search_insert AFTER INSERT ON servers BEGIN
    INSERT INTO servers_search (rowid, name, owner)
    SELECT NEW.id, NEW.name, username FROM users WHERE id = NEW.owner_id;
END;
CREATE TRIGGER servers_search_update AFTER UPDATE OF name, owner_id ON servers BEGIN
    DELETE FROM servers_search WHERE rowid = OLD.id;
    INSERT INTO servers_search (rowid, name, owner)
    SELECT NEW.id, NEW.name, username FROM users WHERE id = NEW.owner_id;
END;
CREATE TRIGGER servers_search_delete AFTER DELETE ON servers BEGIN
    DELETE FROM servers_search WHERE rowid = OLD.id;
END;
CREATE TRIGGER servers_search_owner AFTER UPDATE OF username ON users BEGIN
    UPDATE servers_search SET owner = NEW.username
    WHERE rowid IN (SELECT id FROM servers WHERE owner_id = NEW.id);
END;
