DROP TRIGGER servers_license_deleted ON servers;
DROP TRIGGER servers_license_changed ON servers;
DROP FUNCTION log_license_change();
DROP TABLE license_revision;
DROP TABLE license_changes;
