-- now() is the transaction's start: a change committed late would look older than the
-- ones before it, and pruning by age could cut a hole in the middle of the log. The
-- wall clock when the row is written follows revision order, so age pruning only ever
-- removes the oldest revisions.
ALTER TABLE license_changes ALTER COLUMN at SET DEFAULT (clock_timestamp() AT TIME ZONE 'UTC');
