// Package keys owns Gatehouse's JWT signing keys: it creates them, keeps
// their private halves encrypted in the signing_keys table, signs access
// tokens and X-Auth-Assertion headers (SPEC §3) with the current key, and
// serves every published public key as the JWKS at
// GET {auth_prefix}/.well-known/jwks.json.
//
// Every replica holds the same view: it reloads the table every
// RefreshEvery (Run) and derives everything else from the rows'
// timestamps, so replicas agree without talking to each other.
//
// # Families
//
// A Ring schedules one family of keys, picked by Options.Algorithm: the
// RS256 keys, or every other key (ES256 and EdDSA). Access tokens and
// assertions use the ES256/EdDSA family; OpenID Connect ID tokens are
// signed with RS256, which every relying party accepts, by a second Ring
// on the same table. Each family has its own schedule: a Ring reads,
// bootstraps (under its own lock) and rotates only its family's rows, so
// rotating one never retires the other's key. Within the ES256/EdDSA
// family, changing the algorithm takes effect at the next rotation. A Set
// of Rings serves both families as one JWKS.
//
// # Rotation timeline
//
// `gatehouse keys rotate` calls Rotate at time T, which inserts key K2 with
// not_before = T + ActivationDelay (60 s). With K1 the key signing so far:
//
//	T                  K2 exists; every replica publishes it after its next
//	                   reload, by T + RefreshEvery (30 s), yet none signs with it.
//	T + 60 s           K2.not_before: every replica signs with K2. K1 retires:
//	                   retire_at = K2.not_before (written by the first replica
//	                   that reloads after it), expires_at = retire_at +
//	                   MaxTokenTTL + Grace.
//	K1.expires_at      every token K1 signed has expired; K1 leaves the JWKS
//	                   and Verify refuses it.
//
// The signing key at time t is the key with the latest not_before <= t that
// is not retired (ties broken by created_at, then kid). A key retires when
// the next key by not_before activates (or when an operator sets retire_at);
// it stays published until expires_at, or forever while expires_at is NULL.
// Because ActivationDelay (60 s) is longer than RefreshEvery (30 s), every
// replica, and every relying party that refetches the JWKS on an unknown
// kid, knows a key before any token signed by it exists.
//
// On an empty table (or when no key of its family can sign), Load creates
// a key that signs at once. It does so in a transaction that first takes a
// lock (a PostgreSQL advisory lock, one per family; SQLite's BEGIN
// IMMEDIATE), re-reads the family and only inserts when still no key can
// sign, so two replicas starting together create one key. Should two keys ever appear anyway, the rule
// above picks the same one on every replica.
//
// Private keys are stored as AES-256-GCM ciphertext under a key derived
// from the instance secret with HKDF-SHA256, bound to their kid. Load fails
// when a key that may still sign cannot be decrypted (a wrong secret).
//
// # Hot path
//
// Sign uses the parsed private key and a pre-encoded protected header, so a
// signature costs one JSON encoding plus the signature itself. ES256 is the
// default because every JWT library verifies it; EdDSA (Ed25519) signs
// faster, and RS256 (RSA 2048) far slower, see the package benchmarks.
// AssertionCache reuses an assertion for identical claims while more than
// half of its lifetime remains.
package keys
