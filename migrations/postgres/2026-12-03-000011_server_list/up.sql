-- The server list's search (`q`) by trigrams, as the users' is: only admin actions write a
-- server's name, so the index costs a heartbeat nothing. Owners' names are searched through
-- `users_username_trgm`.
CREATE INDEX servers_name_trgm ON servers USING gin (lower(name) gin_trgm_ops);

-- A grace window's end is set exactly when the status is GRACE. Estimating the two
-- conditions of `status=GRACE` as independent, the planner expected a hundredth of the
-- matches (105 of 10,000 at a million servers) and joined them all before sorting
-- (163 ms); with the pair's common values it walks (license_status, id) and stops at the
-- page (0.8 ms).
CREATE STATISTICS IF NOT EXISTS servers_status_grace (mcv) ON license_status, grace_expires_at FROM servers;

-- A status filter sorted by name walks its status's stretch of this in order; with
-- `servers_by_name` alone it walked every name to find the 1 % in GRACE (500 ms).
CREATE INDEX servers_by_status_and_name ON servers (license_status, name, id);
