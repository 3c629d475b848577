DROP INDEX servers_by_status_and_name;
DROP STATISTICS servers_status_grace;
DROP INDEX servers_name_trgm;
