package password

import (
	"context"
	"errors"
	"fmt"

	"gatehouse/config"

	"gatehouse/gateway"
)

// Passwords is the provider's gateway.Passwords: a Policy and a Hasher.
type Passwords struct {
	policy Policy
	hasher *Hasher
}

var _ gateway.Passwords = (*Passwords)(nil)

// NewPasswords returns the Passwords for a policy and hash parameters, or
// the error of invalid parameters. At most runtime.NumCPU() hashes run at
// once.
func NewPasswords(policy Policy, params Params) (*Passwords, error) {
	h, err := NewHasher(params, 0)
	if err != nil {
		return nil, err
	}
	return &Passwords{policy: policy, hasher: h}, nil
}

// Check applies the policy (Policy.CheckFor) and answers its refusal as
// the SPEC's validation_failed with the rule's message.
func (p *Passwords) Check(pw, email, username string) error {
	err := p.policy.CheckFor(pw, email, username)
	if err == nil {
		return nil
	}
	var pe *Error
	if errors.As(err, &pe) {
		return pe.Gateway()
	}
	return gateway.ValidationFailed(map[string]string{"password": "not acceptable"}).Wrap(err)
}

// Hash hashes pw with the configured parameters.
func (p *Passwords) Hash(ctx context.Context, pw string) (string, error) {
	return p.hasher.Hash(ctx, pw)
}

// Verify checks pw against a stored hash.
func (p *Passwords) Verify(ctx context.Context, pw, encoded string) (bool, error) {
	return p.hasher.Verify(ctx, pw, encoded)
}

// DummyVerify spends the time of a Verify.
func (p *Passwords) DummyVerify(ctx context.Context, pw string) error {
	return p.hasher.DummyVerify(ctx, pw)
}

// NeedsRehash reports whether encoded was made with other parameters.
func (p *Passwords) NeedsRehash(encoded string) bool { return p.hasher.NeedsRehash(encoded) }

// FromConfig builds the Passwords of accounts.password: its lengths and,
// when set, its Argon2id cost (else DefaultParams).
func FromConfig(cfg config.Password) (*Passwords, error) {
	params := DefaultParams
	if a := cfg.Argon2; a.Memory > 0 {
		params.Memory, params.Iterations, params.Parallelism = a.Memory, a.Iterations, a.Parallelism
	}
	p, err := NewPasswords(Policy{MinLength: cfg.MinLength, MaxLength: cfg.MaxLength}, params)
	if err != nil {
		return nil, fmt.Errorf("accounts.password.argon2: %w", err)
	}
	return p, nil
}
