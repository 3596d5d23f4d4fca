package keys

import (
	"context"
	"crypto"
	"crypto/cipher"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"time"

	"github.com/lestrrat-go/jwx/v3/jws"
	"github.com/lestrrat-go/jwx/v3/jwt"
	"gorm.io/gorm"

	"gatehouse/gateway/db"
)

// inFamily restricts gdb to the rows of alg's family, the rows one Ring
// schedules: the RS256 keys, or every other key (ES256 and EdDSA, which
// succeed each other at rotation). Rings of different families share the
// table without reading, retiring or bootstrapping each other's keys.
func inFamily(gdb *gorm.DB, alg string) *gorm.DB {
	if alg == RS256 {
		return gdb.Where("algorithm = ?", RS256)
	}
	return gdb.Where("algorithm <> ?", RS256)
}

// lockID is the advisory lock that serialises key creation in alg's family.
func lockID(alg string) int64 {
	if alg == RS256 {
		return rsaAdvisoryLockID
	}
	return advisoryLockID
}

// readKeys returns the keys of alg's family not yet expired at now, in
// schedule order.
func readKeys(ctx context.Context, gdb *gorm.DB, alg string, now time.Time) ([]db.SigningKey, error) {
	var rows []db.SigningKey
	err := inFamily(gdb.WithContext(ctx), alg).
		Where("expires_at IS NULL OR expires_at > ?", now).
		Order("not_before, created_at, id").
		Find(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("keys: read signing_keys: %w", err)
	}
	return rows, nil
}

// parse fills in kk's cryptographic material from its row.
func (kk *key) parse(r *db.SigningKey, aead cipher.AEAD, withPrivate bool) error {
	alg, err := signatureAlgorithm(r.Algorithm)
	if err != nil {
		return fmt.Errorf("keys: key %s: %w", r.ID, err)
	}
	pub, err := parsePublicJWK(r.ID, r.Algorithm, r.PublicJWK)
	if err != nil {
		return err
	}
	kk.alg, kk.publicJWK, kk.pub = alg, r.PublicJWK, pub
	kk.verify = jwt.WithKey(alg, pub)
	if !withPrivate {
		return nil
	}
	der, err := unseal(aead, r.ID, r.Algorithm, r.PrivateKey)
	if err != nil {
		return fmt.Errorf("keys: key %s: %w", r.ID, err)
	}
	priv, err := parsePrivate(r.Algorithm, der)
	if err != nil {
		return fmt.Errorf("keys: key %s: %w", r.ID, err)
	}
	if !publicEqual(priv.Public(), pub) {
		return fmt.Errorf("keys: key %s: private key does not match public_jwk", r.ID)
	}
	signer, err := jws.SignerFor(alg)
	if err != nil {
		return fmt.Errorf("keys: key %s: %w", r.ID, err)
	}
	hdr, err := json.Marshal(struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
		Typ string `json:"typ"`
	}{alg.String(), r.ID, "JWT"})
	if err != nil {
		return err
	}
	kk.priv, kk.signer, kk.sigSize = priv, signer, signatureSize(pub)
	kk.header = append(base64.RawURLEncoding.AppendEncode(nil, hdr), '.')
	return nil
}

func publicEqual(a, b crypto.PublicKey) bool {
	ea, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && ea.Equal(b)
}

// bootstrap creates a key that signs at once, unless another replica did
// so since we looked: under its family's lock, it re-reads the family
// first.
func (k *Ring) bootstrap(ctx context.Context, aead cipher.AEAD, now time.Time) error {
	return k.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if tx.Dialector.Name() == db.DriverPostgres {
			if err := tx.Exec("SELECT pg_advisory_xact_lock(?)", lockID(k.o.Algorithm)).Error; err != nil {
				return fmt.Errorf("keys: lock: %w", err)
			}
		}
		rows, err := readKeys(ctx, tx, k.o.Algorithm, now)
		if err != nil {
			return err
		}
		if signingKey(k.schedule(rows), now) != nil {
			return nil
		}
		_, err = k.insert(tx, aead, now, now)
		return err
	})
}

// insert creates a key of the configured algorithm that signs from
// notBefore.
func (k *Ring) insert(tx *gorm.DB, aead cipher.AEAD, now, notBefore time.Time) (string, error) {
	alg := k.o.Algorithm
	priv, err := generate(alg)
	if err != nil {
		return "", err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return "", fmt.Errorf("keys: encode private key: %w", err)
	}
	kid := db.NewID()
	pub, err := publicJWK(kid, alg, priv.Public())
	if err != nil {
		return "", err
	}
	row := db.SigningKey{
		ID:         kid,
		Algorithm:  alg,
		PrivateKey: seal(aead, kid, alg, der),
		PublicJWK:  pub,
		CreatedAt:  now,
		NotBefore:  notBefore,
	}
	clear(der)
	if err := tx.Create(&row).Error; err != nil {
		return "", fmt.Errorf("keys: insert signing key: %w", err)
	}
	return kid, nil
}

// recordRetirements writes retire_at and expires_at of keys whose
// successor has activated, so that the table shows the schedule and
// readKeys can skip expired keys. Every replica computes the same values;
// the first one to write wins.
func (k *Ring) recordRetirements(ctx context.Context, st *state, now time.Time) error {
	for _, kk := range st.keys {
		if kk.stored || kk.retireAt.IsZero() || now.Before(kk.retireAt) {
			continue
		}
		err := k.db.WithContext(ctx).Model(&db.SigningKey{}).
			Where("id = ? AND retire_at IS NULL", kk.kid).
			Updates(map[string]any{"retire_at": kk.retireAt, "expires_at": kk.expiresAt}).Error
		if err != nil {
			return fmt.Errorf("keys: retire %s: %w", kk.kid, err)
		}
	}
	return nil
}
