package adminapi

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"gorm.io/gorm"

	"gatehouse/gateway/db"
)

// Rows per INSERT. On Postgres 1000 users × 16 columns stays well under
// its 65535 bound parameters. The SQLite driver's cost per statement grows
// with the square of its parameters (2000 users: 0.33 s in batches of 100,
// 1.5 s in batches of 1000; 4 s and 28 s under -race), so SQLite gets
// smaller batches.
const (
	seedBatch       = 1000
	seedBatchSQLite = 100
)

// seedPasswordHash is a well-formed PHC string that matches no password:
// seeded accounts cannot sign in with a password.
const seedPasswordHash = "$argon2id$v=19$m=65536,t=3,p=2$c2VlZHNlZWRzZWVkc2VlZA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"

var (
	seedFirst = []string{"Ada", "Alan", "Grace", "Linus", "Margaret", "Dennis", "Barbara", "Ken", "Frances", "Edsger"}
	seedLast  = []string{"Lovelace", "Turing", "Hopper", "Torvalds", "Hamilton", "Ritchie", "Liskov", "Thompson", "Allen", "Dijkstra", "Knuth"}
)

// SeedUsers inserts n users with varied, deterministic fields, for
// benchmarks and load tests: user<i>@example.test and username user<i>
// (i = 1..n, so it fails on a database that already has them), about 1 in
// 1000 an admin, 90% verified, 2.5% blocked, 12.5% with TOTP on (no secret:
// a flag only), 80% with a password that matches nothing, 75% signed in at
// least once, a third linked to google and a seventh to github. created_at
// is spread over n×5 minutes before now, not in i order, so that a text
// search and a time order are not correlated.
//
// Rows go in with CreateInBatches, in one transaction: batches of 1000 on
// Postgres, 100 on SQLite (see seedBatchSQLite).
func SeedUsers(ctx context.Context, gdb *gorm.DB, n int, now time.Time) error {
	if n <= 0 {
		return nil
	}
	now = now.UTC().Truncate(time.Microsecond)
	users := make([]db.User, 0, n)
	var identities []db.Identity
	for i := 1; i <= n; i++ {
		// 7919 is prime: i*7919 mod n visits every slot when n is not a
		// multiple of it, and scatters them when it is.
		created := now.Add(-time.Duration((i*7919)%n+1) * 5 * time.Minute)
		username := "user" + strconv.Itoa(i)
		u := db.User{
			ID:             db.NewID(),
			Email:          username + "@example.test",
			Username:       &username,
			Name:           seedFirst[i%len(seedFirst)] + " " + seedLast[(i/len(seedFirst))%len(seedLast)],
			Role:           "user",
			SessionVersion: 1,
			EmailVerified:  i%10 != 0,
			MFAEnabled:     i%8 == 0,
			Blocked:        i%40 == 0,
			CreatedAt:      created,
			UpdatedAt:      created,
		}
		if i%1000 == 1 {
			u.Role = "admin"
		}
		if i%5 != 0 {
			h := seedPasswordHash
			u.PasswordHash = &h
		}
		if i%4 != 0 {
			last := created.Add(time.Duration(i%720) * time.Hour)
			if last.After(now) {
				last = now
			}
			u.LastLoginAt = &last
			u.UpdatedAt = last
		}
		users = append(users, u)
		if i%3 == 0 {
			identities = append(identities, db.Identity{ID: db.NewID(), UserID: u.ID, Provider: "google", Subject: "g" + strconv.Itoa(i), Email: u.Email, CreatedAt: created})
		}
		if i%7 == 0 {
			identities = append(identities, db.Identity{ID: db.NewID(), UserID: u.ID, Provider: "github", Subject: strconv.Itoa(i), Email: u.Email, CreatedAt: created})
		}
	}
	batch := seedBatch
	if gdb.Dialector.Name() == db.DriverSQLite {
		batch = seedBatchSQLite
	}
	err := gdb.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.CreateInBatches(&users, batch).Error; err != nil {
			return err
		}
		if len(identities) == 0 {
			return nil
		}
		return tx.CreateInBatches(&identities, batch).Error
	})
	if err != nil {
		return fmt.Errorf("admin: seed %d users: %w", n, err)
	}
	return nil
}
