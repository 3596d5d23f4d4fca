package gateway

import "context"

// Passwords is what the password provider gives the core: its policy and
// its hashing. The core's sign-up, reset, password change and sign-in call
// it; it never sees how a hash is made. Implementations are safe for
// concurrent use and bound their own work (a hash can wait for a slot
// until ctx ends).
type Passwords interface {
	// Check returns nil when pw is an acceptable new password for the
	// account with this email and username (either may be ""), else a
	// 400 validation_failed *Error whose field "password" says why,
	// without quoting pw.
	Check(pw, email, username string) error
	// Hash returns the encoded hash to store for pw.
	Hash(ctx context.Context, pw string) (string, error)
	// Verify reports whether pw matches the stored hash.
	Verify(ctx context.Context, pw, encoded string) (bool, error)
	// DummyVerify spends the time of a Verify, so that an unknown account
	// answers as slowly as a wrong password.
	DummyVerify(ctx context.Context, pw string) error
	// NeedsRehash reports whether a stored hash was made with other
	// parameters than new hashes are.
	NeedsRehash(encoded string) bool
}
