-- passkeys: WebAuthn credentials, a way to sign in without a password and
-- a second factor. credential_id is the authenticator's credential id (raw
-- bytes), unique across users; public_key is its COSE key. sign_count is
-- the last signature counter seen (a counter that does not grow is refused
-- as a cloned authenticator). transports is a comma-separated list
-- (internal,hybrid,usb,...). Deleting a user deletes their passkeys.

-- +goose Up
CREATE TABLE passkeys (
    id               TEXT        NOT NULL PRIMARY KEY,
    user_id          TEXT        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    credential_id    BLOB        NOT NULL,
    public_key       BLOB        NOT NULL,
    sign_count       INTEGER     NOT NULL DEFAULT 0,
    transports       TEXT        NOT NULL DEFAULT '',
    aaguid           BLOB,
    backup_eligible  INTEGER     NOT NULL DEFAULT 0,
    backup_state     INTEGER     NOT NULL DEFAULT 0,
    user_verified    INTEGER     NOT NULL DEFAULT 0,
    attestation_type TEXT        NOT NULL DEFAULT '',
    name             TEXT        NOT NULL DEFAULT '',
    created_at       DATETIME    NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f+00:00', 'now')),
    last_used_at     DATETIME
);
CREATE UNIQUE INDEX passkeys_credential_id_key ON passkeys (credential_id);
CREATE INDEX passkeys_user_id_idx ON passkeys (user_id);

-- +goose Down
DROP TABLE passkeys;
