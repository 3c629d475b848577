-- One row that readiness rewrites after a storage failure, to learn whether writes are
-- possible again (a read alone would pass on a full disk).
CREATE TABLE storage_probe (
    id BIGINT    PRIMARY KEY CHECK (id = 1),
    at TIMESTAMP NOT NULL
);
INSERT INTO storage_probe (id, at) VALUES (1, '2026-12-02 00:00:00');
