-- Gatehouse initial schema (SQLite). Keep in step with postgres/00001_initial.sql:
-- same tables, columns, index and constraint names.
--
-- Conventions:
--   * ids are opaque TEXT (UUIDv7 made by the application), never sequences;
--   * times are DATETIME columns holding text in the go-sqlite driver's format
--     "2006-01-02 15:04:05.999999999-07:00", always UTC (gateway/db converts
--     every time argument to UTC), so text order is time order; the declared
--     type DATETIME is what makes the driver parse them back into time.Time;
--   * booleans are INTEGER 0/1, byte strings BLOB, JSON is TEXT;
--   * secrets are never stored in clear: code_hash / token_hash are keyed
--     hashes (BLOB), private_key and totp_secret_enc are encrypted (BLOB);
--   * invite codes are stored as given (see the invites table).

-- +goose Up

-- users: accounts. email is stored already trimmed and lower-cased by the
-- application; usernames are unique case-insensitively.
CREATE TABLE users (
    id              TEXT        NOT NULL PRIMARY KEY,
    email           TEXT        NOT NULL,
    username        TEXT,
    name            TEXT        NOT NULL DEFAULT '',
    avatar_url      TEXT        NOT NULL DEFAULT '',
    role            TEXT        NOT NULL DEFAULT '',      -- platform role; '' = not chosen yet (onboarding)
    email_verified  INTEGER     NOT NULL DEFAULT 0,
    password_hash   TEXT,                                  -- PHC string; NULL = no password (OAuth/code only)
    mfa_enabled     INTEGER     NOT NULL DEFAULT 0,
    totp_secret_enc BLOB,                                  -- encrypted with the instance secret; set before mfa_enabled during setup
    totp_last_step  INTEGER     NOT NULL DEFAULT 0,        -- last accepted TOTP time step (a code works once)
    blocked         INTEGER     NOT NULL DEFAULT 0,
    session_version INTEGER     NOT NULL DEFAULT 1,        -- bumped to invalidate every session and token
    created_at      DATETIME    NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f+00:00', 'now')),
    updated_at      DATETIME    NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f+00:00', 'now')),
    last_login_at   DATETIME
);
CREATE UNIQUE INDEX users_email_key ON users (email);
CREATE UNIQUE INDEX users_username_lower_key ON users (lower(username));
-- admin list: filter and sort columns
CREATE INDEX users_created_at_idx ON users (created_at);
CREATE INDEX users_updated_at_idx ON users (updated_at);
CREATE INDEX users_last_login_at_idx ON users (last_login_at);
CREATE INDEX users_role_idx ON users (role);
CREATE INDEX users_email_verified_idx ON users (email_verified);
CREATE INDEX users_blocked_idx ON users (blocked);
CREATE INDEX users_mfa_enabled_idx ON users (mfa_enabled);

-- identities: external provider accounts linked to a user (google, github, oidc:NAME).
CREATE TABLE identities (
    id         TEXT        NOT NULL PRIMARY KEY,
    user_id    TEXT        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider   TEXT        NOT NULL,
    subject    TEXT        NOT NULL,
    email      TEXT        NOT NULL DEFAULT '',
    created_at DATETIME    NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f+00:00', 'now'))
);
CREATE UNIQUE INDEX identities_provider_subject_key ON identities (provider, subject);
-- one identity per provider per user (DELETE /me/identities/{provider}); also serves user_id lookups
CREATE UNIQUE INDEX identities_user_provider_key ON identities (user_id, provider);
CREATE INDEX identities_provider_idx ON identities (provider);

-- workspaces: deleting a user who still owns a workspace is refused (foreign
-- key violation; the API answers 409 owns_workspaces first).
CREATE TABLE workspaces (
    id         TEXT        NOT NULL PRIMARY KEY,
    name       TEXT        NOT NULL,
    slug       TEXT        NOT NULL,
    owner_id   TEXT        NOT NULL REFERENCES users (id),            -- NO ACTION: refused while referenced
    created_at DATETIME    NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f+00:00', 'now')),
    updated_at DATETIME    NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f+00:00', 'now'))
);
CREATE UNIQUE INDEX workspaces_slug_key ON workspaces (slug);
CREATE INDEX workspaces_owner_id_idx ON workspaces (owner_id);

CREATE TABLE memberships (
    workspace_id TEXT        NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    user_id      TEXT        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role         TEXT        NOT NULL CHECK (role IN ('member', 'moderator', 'admin')),
    joined_at    DATETIME    NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f+00:00', 'now')),
    PRIMARY KEY (workspace_id, user_id)
);
CREATE INDEX memberships_user_id_idx ON memberships (user_id);

-- invites: the code is kept as given, not hashed: admins list invites with
-- their codes and URLs (SPEC §4 workspaces), and an invite only admits to one
-- workspace, expires, counts uses and can be disabled. It is looked up by
-- exact match through the unique index.
CREATE TABLE invites (
    id           TEXT        NOT NULL PRIMARY KEY,
    code         TEXT        NOT NULL,
    workspace_id TEXT        NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    role         TEXT        NOT NULL CHECK (role IN ('member', 'moderator', 'admin')),
    email        TEXT,                                     -- NULL = anyone with the code
    max_uses     INTEGER     NOT NULL DEFAULT 1,           -- 0 = unlimited
    uses         INTEGER     NOT NULL DEFAULT 0,
    expires_at   DATETIME    NOT NULL,
    disabled_at  DATETIME,
    created_by   TEXT        REFERENCES users (id) ON DELETE SET NULL,
    created_at   DATETIME    NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f+00:00', 'now'))
);
CREATE UNIQUE INDEX invites_code_key ON invites (code);
CREATE INDEX invites_workspace_id_idx ON invites (workspace_id);
CREATE INDEX invites_created_by_idx ON invites (created_by);

-- one_time_codes: emailed 6-digit codes, stored only as a keyed hash. One live
-- code per (email, purpose): issuing a new one replaces the old (upsert).
CREATE TABLE one_time_codes (
    id           TEXT        NOT NULL PRIMARY KEY,
    user_id      TEXT        REFERENCES users (id) ON DELETE CASCADE,  -- NULL e.g. for a first-time login code
    email        TEXT        NOT NULL,
    purpose      TEXT        NOT NULL,                     -- verify_email | login | reset_password | change_email
    code_hash    BLOB        NOT NULL,
    attempts     INTEGER     NOT NULL DEFAULT 0,
    max_attempts INTEGER     NOT NULL,
    expires_at   DATETIME    NOT NULL,
    consumed_at  DATETIME,
    created_at   DATETIME    NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f+00:00', 'now')),
    last_sent_at DATETIME    NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f+00:00', 'now'))
);
CREATE UNIQUE INDEX one_time_codes_email_purpose_key ON one_time_codes (email, purpose);
CREATE INDEX one_time_codes_user_id_idx ON one_time_codes (user_id);
CREATE INDEX one_time_codes_expires_at_idx ON one_time_codes (expires_at);
CREATE INDEX one_time_codes_created_at_idx ON one_time_codes (created_at);

-- recovery_codes: TOTP recovery codes, keyed hashes, single use.
CREATE TABLE recovery_codes (
    id         TEXT        NOT NULL PRIMARY KEY,
    user_id    TEXT        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash  BLOB        NOT NULL,
    used_at    DATETIME,
    created_at DATETIME    NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f+00:00', 'now'))
);
CREATE UNIQUE INDEX recovery_codes_user_code_key ON recovery_codes (user_id, code_hash);

-- refresh_tokens: rotated on every use; reuse of a dead token revokes its
-- whole family. session_id ties the family to the session that issued it.
CREATE TABLE refresh_tokens (
    id         TEXT        NOT NULL PRIMARY KEY,
    user_id    TEXT        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    family_id  TEXT        NOT NULL,
    session_id TEXT        NOT NULL,
    token_hash BLOB        NOT NULL,
    parent_id  TEXT,                                       -- the token this one replaced
    expires_at DATETIME    NOT NULL,
    revoked_at DATETIME,
    created_at DATETIME    NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f+00:00', 'now'))
);
CREATE UNIQUE INDEX refresh_tokens_token_hash_key ON refresh_tokens (token_hash);
CREATE INDEX refresh_tokens_user_id_idx ON refresh_tokens (user_id);
CREATE INDEX refresh_tokens_family_id_idx ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_session_id_idx ON refresh_tokens (session_id);
CREATE INDEX refresh_tokens_expires_at_idx ON refresh_tokens (expires_at);

-- signing_keys: JWT signing keys; id is the JWK kid. A key signs from
-- not_before, stops signing at retire_at and leaves the JWKS at expires_at.
CREATE TABLE signing_keys (
    id          TEXT        NOT NULL PRIMARY KEY,
    algorithm   TEXT        NOT NULL,
    private_key BLOB        NOT NULL,                      -- encrypted with the instance secret
    public_jwk  TEXT        NOT NULL,                      -- JSON, served as is in the JWKS
    created_at  DATETIME    NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f+00:00', 'now')),
    not_before  DATETIME    NOT NULL,
    retire_at   DATETIME,
    expires_at  DATETIME
);

-- audit_events: no foreign keys, so records outlive the users they name;
-- deleting a user blanks email, ip and user_agent in its earlier records.
CREATE TABLE audit_events (
    id         TEXT        NOT NULL PRIMARY KEY,
    "time"     DATETIME    NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f+00:00', 'now')),
    type       TEXT        NOT NULL,
    actor_id   TEXT,
    subject_id TEXT,
    email      TEXT,
    ip         TEXT,
    user_agent TEXT,
    request_id TEXT        NOT NULL DEFAULT '',
    data       TEXT        NOT NULL DEFAULT '{}' CHECK (json_valid(data))
);
CREATE INDEX audit_events_time_idx ON audit_events ("time");
CREATE INDEX audit_events_type_time_idx ON audit_events (type, "time");
CREATE INDEX audit_events_actor_id_time_idx ON audit_events (actor_id, "time");
CREATE INDEX audit_events_subject_id_time_idx ON audit_events (subject_id, "time");

-- outbox: durable queue for mail, events and webhooks. Workers claim due rows
-- (status = 'pending' AND next_attempt_at <= now AND locked_until is NULL or
-- past) by setting locked_until. payload is opaque TEXT, byte-exact.
CREATE TABLE outbox (
    id              TEXT        NOT NULL PRIMARY KEY,
    kind            TEXT        NOT NULL,                  -- mail | event | webhook
    payload         TEXT        NOT NULL,
    attempts        INTEGER     NOT NULL DEFAULT 0,
    next_attempt_at DATETIME    NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f+00:00', 'now')),
    locked_until    DATETIME,
    last_error      TEXT        NOT NULL DEFAULT '',
    status          TEXT        NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'done', 'dead')),
    created_at      DATETIME    NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f+00:00', 'now')),
    updated_at      DATETIME    NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f+00:00', 'now'))
);
CREATE INDEX outbox_status_next_attempt_at_idx ON outbox (status, next_attempt_at);

-- +goose Down
DROP TABLE outbox;
DROP TABLE audit_events;
DROP TABLE signing_keys;
DROP TABLE refresh_tokens;
DROP TABLE recovery_codes;
DROP TABLE one_time_codes;
DROP TABLE invites;
DROP TABLE memberships;
DROP TABLE workspaces;
DROP TABLE identities;
DROP TABLE users;
