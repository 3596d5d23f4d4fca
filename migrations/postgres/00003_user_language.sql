-- The language a user last used on the hosted pages: their emails are
-- written in it ("" = ui.default_language).

-- +goose Up
ALTER TABLE users ADD COLUMN language TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE users DROP COLUMN language;
