-- Substring search over usernames and emails without reading every user: a trigram index
-- (case-insensitive), kept in step with `users` by triggers.
CREATE VIRTUAL TABLE users_search USING fts5(
    username, email, content = 'users', content_rowid = 'id', tokenize = 'trigram'
);
INSERT INTO users_search (users_search) VALUES ('rebuild');

CREATE TRIGGER users_search_insert AFTER INSERT ON users BEGIN
    INSERT INTO users_search (rowid, username, email) VALUES (NEW.id, NEW.username, NEW.email);
END;
CREATE TRIGGER users_search_delete AFTER DELETE ON users BEGIN
    INSERT INTO users_search (users_search, rowid, username, email)
    VALUES ('delete', OLD.id, OLD.username, OLD.email);
END;
CREATE TRIGGER users_search_update AFTER UPDATE OF username, email ON users BEGIN
    INSERT INTO users_search (users_search, rowid, username, email)
    VALUES ('delete', OLD.id, OLD.username, OLD.email);
    INSERT INTO users_search (rowid, username, email) VALUES (NEW.id, NEW.username, NEW.email);
END;
