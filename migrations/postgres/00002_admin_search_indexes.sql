-- Indexes for the admin user list (measured with 100 000 users, see
-- docs/admin.md): substring search on email/username/name uses trigram
-- indexes when the pg_trgm extension can be had (creating it needs the
-- privilege; without it the search scans the table, and nothing fails);
-- the last-login sort and the created_at/id paging use plain indexes.

-- +goose Up
-- +goose StatementBegin
DO $$
BEGIN
	CREATE EXTENSION IF NOT EXISTS pg_trgm;
EXCEPTION WHEN insufficient_privilege OR undefined_file OR feature_not_supported THEN
	RAISE NOTICE 'pg_trgm unavailable: admin text search will scan users';
END
$$;
-- +goose StatementEnd
-- +goose StatementBegin
DO $$
BEGIN
	IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm') THEN
		CREATE INDEX IF NOT EXISTS users_email_trgm_idx ON users USING gin (lower(email) gin_trgm_ops);
		CREATE INDEX IF NOT EXISTS users_username_trgm_idx ON users USING gin (lower(username) gin_trgm_ops);
		CREATE INDEX IF NOT EXISTS users_name_trgm_idx ON users USING gin (lower(name) gin_trgm_ops);
	END IF;
END
$$;
-- +goose StatementEnd
CREATE INDEX users_last_login_at_desc_idx ON users (last_login_at DESC NULLS LAST, id DESC);
CREATE INDEX users_created_at_id_idx ON users (created_at, id);

-- +goose Down
DROP INDEX IF EXISTS users_created_at_id_idx;
DROP INDEX IF EXISTS users_last_login_at_desc_idx;
DROP INDEX IF EXISTS users_name_trgm_idx;
DROP INDEX IF EXISTS users_username_trgm_idx;
DROP INDEX IF EXISTS users_email_trgm_idx;
