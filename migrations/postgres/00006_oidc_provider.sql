-- oidc_provider: what Gatehouse as an OpenID Connect provider keeps.
--
-- oidc_grants: one sign-in of a user into a client (or one client
-- credentials grant, user_id NULL): the refresh-token family. It is
-- revoked (revoked_at) by revocation, by a reused refresh token or a
-- replayed code, and no longer valid once the user's session_version has
-- moved past the one it recorded (blocking, sign-out everywhere, password
-- change) or the user is deleted (cascade). expires_at is the end of the
-- family: sign-in + refresh_token_ttl. workspace_id is the active workspace
-- at sign-in (the workspace claims).
--
-- oidc_refresh_tokens: each refresh token of a family, as a keyed hash
-- (never the token). A token is used once: used_at set on rotation; a used
-- token presented again revokes the family.
--
-- oidc_consents: the scopes a user granted a client with explicit consent,
-- remembered until revoked from the account page.

-- +goose Up
CREATE TABLE oidc_grants (
    id              TEXT        NOT NULL PRIMARY KEY,
    user_id         TEXT        REFERENCES users (id) ON DELETE CASCADE,
    client_id       TEXT        NOT NULL,
    scopes          TEXT        NOT NULL DEFAULT '',
    amr             TEXT        NOT NULL DEFAULT '',
    auth_time       TIMESTAMPTZ,
    sid             TEXT        NOT NULL DEFAULT '',
    workspace_id    TEXT        NOT NULL DEFAULT '',
    session_version BIGINT      NOT NULL DEFAULT 0,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at      TIMESTAMPTZ NOT NULL,
    revoked_at      TIMESTAMPTZ
);
CREATE INDEX oidc_grants_user_id_idx ON oidc_grants (user_id);

CREATE TABLE oidc_refresh_tokens (
    id         TEXT        NOT NULL PRIMARY KEY,
    grant_id   TEXT        NOT NULL REFERENCES oidc_grants (id) ON DELETE CASCADE,
    token_hash TEXT        NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    used_at    TIMESTAMPTZ
);
CREATE UNIQUE INDEX oidc_refresh_tokens_hash_key ON oidc_refresh_tokens (token_hash);
CREATE INDEX oidc_refresh_tokens_grant_id_idx ON oidc_refresh_tokens (grant_id);

CREATE TABLE oidc_consents (
    user_id    TEXT        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id  TEXT        NOT NULL,
    scopes     TEXT        NOT NULL DEFAULT '',
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, client_id)
);

-- +goose Down
DROP TABLE oidc_consents;
DROP TABLE oidc_refresh_tokens;
DROP TABLE oidc_grants;
