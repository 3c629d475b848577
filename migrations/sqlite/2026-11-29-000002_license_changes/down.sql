DROP TRIGGER servers_license_deleted;
DROP TRIGGER servers_license_changed;
DROP TABLE license_changes;
