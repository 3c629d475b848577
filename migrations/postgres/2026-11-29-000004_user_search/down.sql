DROP INDEX users_email_trgm;
DROP INDEX users_username_trgm;
