-- Indexes for the admin user list's sorts by role, name and username, with
-- the id as tie-breaker (the same names as on PostgreSQL; SQLite indexes
-- cannot say NULLS LAST, so its descending username index is plain DESC).

-- +goose Up
CREATE INDEX users_role_id_idx ON users (role, id);
CREATE INDEX users_name_lower_id_idx ON users (lower(name), id);
CREATE INDEX users_username_lower_id_idx ON users (lower(username), id);
CREATE INDEX users_username_lower_desc_idx ON users (lower(username) DESC, id DESC);

-- +goose Down
DROP INDEX IF EXISTS users_username_lower_desc_idx;
DROP INDEX IF EXISTS users_username_lower_id_idx;
DROP INDEX IF EXISTS users_name_lower_id_idx;
DROP INDEX IF EXISTS users_role_id_idx;
