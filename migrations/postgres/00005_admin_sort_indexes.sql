-- Indexes for the admin user list's sorts (measured with 100 000 users, see
-- docs/performance.md): a page sorted by role, name or username (either
-- way) reads the first rows of an index in the order of the sort, with the
-- id as tie-breaker, instead of sorting every user. username DESC puts
-- NULLs last, which the ascending unique index cannot give backwards.

-- +goose Up
CREATE INDEX users_role_id_idx ON users (role, id);
CREATE INDEX users_name_lower_id_idx ON users (lower(name), id);
CREATE INDEX users_username_lower_id_idx ON users (lower(username), id);
CREATE INDEX users_username_lower_desc_idx ON users (lower(username) DESC NULLS LAST, id DESC);

-- +goose Down
DROP INDEX IF EXISTS users_username_lower_desc_idx;
DROP INDEX IF EXISTS users_username_lower_id_idx;
DROP INDEX IF EXISTS users_name_lower_id_idx;
DROP INDEX IF EXISTS users_role_id_idx;
