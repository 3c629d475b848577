DROP TABLE login_failures;
DROP INDEX users_username_lower;
