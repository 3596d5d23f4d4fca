-- Indexes for the admin user list: the last-login sort and created_at/id
-- paging (Postgres also gets trigram indexes for substring search).

-- +goose Up
CREATE INDEX users_last_login_at_desc_idx ON users (last_login_at DESC, id DESC);
CREATE INDEX users_created_at_id_idx ON users (created_at, id);

-- +goose Down
DROP INDEX IF EXISTS users_created_at_id_idx;
DROP INDEX IF EXISTS users_last_login_at_desc_idx;
