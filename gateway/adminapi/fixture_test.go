package adminapi

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"

	"gatehouse/gateway/db"
	"gatehouse/gateway/db/dbtest"
)

// drivers are the databases every shared test body runs against.
var drivers = []struct {
	name string
	dsn  func(testing.TB) string
}{
	{name: db.DriverSQLite, dsn: dbtest.SQLiteDSN},
	{name: db.DriverPostgres, dsn: dbtest.PostgresDSN},
}

// forEachDB runs fn, in parallel, against a fresh migrated database of
// every driver.
func forEachDB(t *testing.T, fn func(t *testing.T, gdb *gorm.DB)) {
	t.Helper()
	for _, d := range drivers {
		t.Run(d.name, func(t *testing.T) {
			t.Parallel()
			fn(t, openMigrated(t, d.name, d.dsn(t)))
		})
	}
}

func openMigrated(t testing.TB, driver, dsn string) *gorm.DB {
	t.Helper()
	ctx := context.Background()
	gdb, err := db.Open(ctx, db.Options{Driver: driver, DSN: dsn})
	if err != nil {
		t.Fatalf("Open(%s): %v", driver, err)
	}
	t.Cleanup(func() { _ = db.Close(gdb) })
	if _, err := db.Up(ctx, gdb, driver); err != nil {
		t.Fatalf("Up(%s): %v", driver, err)
	}
	return gdb
}

func ts(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func ptr[T any](v T) *T { return &v }

// seedUser is one user of the fixture. key is the local part of the email
// and what the tests' wants list.
type seedUser struct {
	key       string
	domain    string
	username  string // "" = NULL
	name      string
	role      string
	verified  bool
	blocked   bool
	mfa       bool
	password  bool
	created   string
	lastLogin string // "" = never
	providers []string
	// workspaces maps a workspace id to the user's role in it.
	workspaces map[string]string
}

// fixtureUsers is the known data set: 30 users with fixed ids (usr_01 …)
// and times. The metrics tests count over it by hand, so change it with care.
var fixtureUsers = []seedUser{
	{key: "alice", domain: "example.com", username: "alice", name: "Alice Anders", role: "admin", verified: true, mfa: true, password: true, created: "2024-03-10T09:00:00Z", lastLogin: "2025-12-31T12:00:00Z", providers: []string{"google"}, workspaces: map[string]string{"ws1": "admin"}},
	{key: "bob", domain: "example.com", username: "bob", name: "Bob Brown", role: "user", verified: true, password: true, created: "2025-01-01T00:00:00Z", workspaces: map[string]string{"ws1": "member"}},
	{key: "carol", domain: "example.com", username: "CarolC", name: "Carol Clark", role: "user", verified: true, created: "2025-06-15T10:00:00Z", lastLogin: "2025-12-31T23:00:00Z", providers: []string{"github"}, workspaces: map[string]string{"ws2": "admin"}},
	{key: "dave", domain: "example.com", username: "dave", name: "Dave 100% Davis", role: "user", verified: true, blocked: true, password: true, created: "2025-12-31T23:59:59Z", lastLogin: "2025-12-01T08:00:00Z"},
	{key: "dan", domain: "example.com", username: "dan", name: "Dan 1000 Dawson", role: "user", verified: true, password: true, created: "2025-12-31T00:00:00Z"},
	{key: "eve", domain: "example.com", username: "eve_x", name: "Eve Evans", role: "user", password: true, created: "2026-01-01T00:00:00Z"},
	{key: "eveax", domain: "example.com", username: "eveax", name: "Eveax Evers", role: "user", verified: true, password: true, created: "2025-11-30T23:59:59Z", lastLogin: "2025-12-31T00:00:29Z"},
	{key: "frank", domain: "example.com", name: "Frank", role: "", verified: true, created: "2026-01-01T00:00:30Z", lastLogin: "2026-01-01T00:00:30Z", providers: []string{"google"}},
	{key: "grace", domain: "example.org", username: "grace", name: "Grace Hopper", role: "user", verified: true, mfa: true, created: "2025-12-01T00:00:00Z", lastLogin: "2025-12-31T00:00:30Z", providers: []string{"oidc:acme"}, workspaces: map[string]string{"ws2": "member"}},
	{key: "heidi", domain: "example.org", username: "heidi", name: "Heidi Hill", role: "user", password: true, created: "2025-02-28T12:00:00Z"},
	{key: "ivan", domain: "example.net", username: "ivan", name: "Ivan Ivanov", role: "user", verified: true, blocked: true, password: true, created: "2025-03-01T00:00:00Z", lastLogin: "2025-12-02T00:00:30Z"},
	{key: "judy", domain: "example.net", username: "judy", name: "Judy Jones", role: "admin", verified: true, mfa: true, password: true, created: "2025-04-04T04:04:04Z", lastLogin: "2025-12-02T00:00:29Z"},
	{key: "mallory", domain: "example.net", username: "mallory", name: "Mallory Moss", role: "user", verified: true, password: true, created: "2025-06-01T00:00:00Z"},
	{key: "niaj", domain: "example.com", username: "niaj", name: "Niaj Nair", role: "user", blocked: true, created: "2025-05-05T05:05:05Z", providers: []string{"github", "google"}},
	{key: "olivia", domain: "example.com", username: "olivia", name: "Olivia Olsen", role: "user", verified: true, password: true, created: "2025-07-07T07:07:07Z", lastLogin: "2025-07-08T07:07:07Z", providers: []string{"github"}, workspaces: map[string]string{"ws1": "member"}},
	{key: "peggy", domain: "example.com", username: "peggy", name: "Peggy Page", role: "user", verified: true, mfa: true, password: true, created: "2025-08-08T08:08:08Z", lastLogin: "2025-12-15T08:00:00Z", workspaces: map[string]string{"ws1": "moderator", "ws2": "member"}},
	{key: "quinn", domain: "example.com", username: "quinn", name: "Quinn Quade", role: "user", password: true, created: "2025-09-09T09:09:09Z"},
	{key: "rupert", domain: "example.com", username: "rupert", name: "Rupert Ross", role: "user", verified: true, password: true, created: "2025-10-10T10:10:10Z", lastLogin: "2025-10-11T10:10:10Z"},
	{key: "ruth", domain: "example.com", username: "RUTH", name: "Ruth Rivers", role: "user", verified: true, created: "2025-10-31T23:59:59Z", providers: []string{"oidc:acme"}},
	{key: "steve", domain: "example.com", username: "steve", name: "Wow! Steve", role: "user", verified: true, password: true, created: "2025-11-01T00:00:00Z", lastLogin: "2025-12-20T00:00:00Z"},
	{key: "sybil", domain: "example.com", username: "sybil", name: "Sybil Stone", role: "user", verified: true, password: true, created: "2025-11-15T15:15:15Z", lastLogin: "2025-12-31T18:00:00Z"},
	{key: "trent", domain: "example.com", username: "trent", name: "Trent Turner", role: "user", verified: true, password: true, created: "2025-12-24T18:00:00Z"},
	{key: "victor", domain: "example.com", username: "victor", name: "Victor Vance", role: "user", password: true, created: "2025-12-25T00:00:00Z"},
	{key: "walter", domain: "example.com", username: "walter", name: "Walter White", role: "user", verified: true, password: true, created: "2025-12-26T00:00:00Z", lastLogin: "2025-12-26T00:00:00Z"},
	{key: "wendy", domain: "example.com", username: "wendy", name: "Wendy Wu", role: "user", verified: true, created: "2025-12-27T00:00:00Z", providers: []string{"github"}},
	{key: "xavier", domain: "example.com", username: "xavier", name: "Xavier Xu", role: "user", verified: true, password: true, created: "2025-12-28T00:00:00Z"},
	{key: "yolanda", domain: "example.com", username: "yolanda", name: "Yolanda Young", role: "user", verified: true, password: true, created: "2025-12-29T00:00:00Z"},
	{key: "zoe", domain: "example.com", username: "zoe", name: "Zoe Zimmer", role: "user", verified: true, password: true, created: "2025-12-30T00:00:00Z"},
	{key: "oscar", domain: "example.com", username: "oscar", name: "Oscar Owens", role: "user", verified: true, password: true, created: "2023-06-01T00:00:00Z"},
	{key: "pat", domain: "example.com", name: "", role: "user", created: "2026-02-01T00:00:00Z"},
}

// fixtureID is the id of fixture user key: usr_01 … in fixtureUsers order.
func fixtureID(key string) string {
	for i, u := range fixtureUsers {
		if u.key == key {
			return userID(i)
		}
	}
	panic("no fixture user " + key)
}

func userID(i int) string { return "usr_" + string(rune('0'+(i+1)/10)) + string(rune('0'+(i+1)%10)) }

// fixtureModels returns the fixture users as models.
func fixtureModels() []db.User {
	users := make([]db.User, len(fixtureUsers))
	for i, s := range fixtureUsers {
		created := ts(s.created)
		u := db.User{
			ID: userID(i), Email: s.key + "@" + s.domain, Name: s.name, Role: s.role,
			EmailVerified: s.verified, Blocked: s.blocked, MFAEnabled: s.mfa, SessionVersion: 1,
			// updated_at is not in created_at order, so the two sorts differ.
			CreatedAt: created, UpdatedAt: created.Add(time.Duration((i*37)%29) * 24 * time.Hour),
		}
		if s.username != "" {
			u.Username = ptr(s.username)
		}
		if s.password {
			u.PasswordHash = ptr(seedPasswordHash)
		}
		if s.lastLogin != "" {
			u.LastLoginAt = ptr(ts(s.lastLogin))
		}
		users[i] = u
	}
	return users
}

// fixtureCodes are the one-time codes of the fixture.
var fixtureCodes = []db.OneTimeCode{
	{ID: "otc_1", UserID: ptr("usr_06"), Email: "eve@example.com", Purpose: "verify_email", CodeHash: []byte("secret-1"), MaxAttempts: 5, CreatedAt: ts("2025-12-31T10:00:00Z"), ExpiresAt: ts("2025-12-31T10:15:00Z"), LastSentAt: ts("2025-12-31T10:00:00Z")},
	{ID: "otc_2", Email: "newbie@example.com", Purpose: "login", CodeHash: []byte("secret-2"), Attempts: 2, MaxAttempts: 5, CreatedAt: ts("2026-01-01T00:00:00Z"), ExpiresAt: ts("2026-01-01T00:15:00Z"), LastSentAt: ts("2026-01-01T00:00:00Z")},
	{ID: "otc_3", UserID: ptr("usr_02"), Email: "bob@example.com", Purpose: "reset_password", CodeHash: []byte("secret-3"), Attempts: 1, MaxAttempts: 5, CreatedAt: ts("2025-12-20T00:00:00Z"), ExpiresAt: ts("2025-12-20T00:15:00Z"), ConsumedAt: ptr(ts("2025-12-20T00:05:00Z")), LastSentAt: ts("2025-12-20T00:00:00Z")},
	{ID: "otc_4", UserID: ptr("usr_01"), Email: "alice.new@example.com", Purpose: "change_email", CodeHash: []byte("secret-4"), MaxAttempts: 5, CreatedAt: ts("2025-12-30T12:00:00Z"), ExpiresAt: ts("2025-12-30T12:15:00Z"), LastSentAt: ts("2025-12-30T12:00:00Z")},
	{ID: "otc_5", UserID: ptr("usr_10"), Email: "heidi@example.org", Purpose: "verify_email", CodeHash: []byte("secret-5"), Attempts: 5, MaxAttempts: 5, CreatedAt: ts("2025-02-28T12:00:00Z"), ExpiresAt: ts("2025-02-28T12:15:00Z"), LastSentAt: ts("2025-02-28T12:00:00Z")},
}

// fixtureEvents are the audit events of the fixture. The metrics tests use
// now = 2026-01-01T00:00:30Z, whose 24 h window starts at
// 2025-12-31T00:00:30Z.
var fixtureEvents = []db.AuditEvent{
	{ID: "ev_01", Type: LoginEventType, Time: ts("2025-12-31T00:00:30Z"), ActorID: ptr("usr_01"), SubjectID: ptr("usr_01"), Email: ptr("alice@example.com"), IP: ptr("192.0.2.1"), RequestID: "req-01", Data: `{"method":"password"}`},
	{ID: "ev_02", Type: LoginEventType, Time: ts("2025-12-31T00:00:29Z"), ActorID: ptr("usr_02"), SubjectID: ptr("usr_02"), Email: ptr("bob@example.com"), IP: ptr("192.0.2.2"), RequestID: "req-02", Data: `{}`},
	{ID: "ev_03", Type: LoginEventType, Time: ts("2025-12-31T12:00:00Z"), ActorID: ptr("usr_03"), SubjectID: ptr("usr_03"), Email: ptr("carol@example.com"), IP: ptr("192.0.2.3"), RequestID: "req-03", Data: `{}`},
	{ID: "ev_04", Type: LoginEventType, Time: ts("2026-01-01T00:00:30Z"), ActorID: ptr("usr_08"), SubjectID: ptr("usr_08"), Email: ptr("frank@example.com"), RequestID: "req-04", Data: `{}`},
	{ID: "ev_05", Type: LoginEventType, Time: ts("2026-01-01T00:00:31Z"), ActorID: ptr("usr_09"), SubjectID: ptr("usr_09"), Email: ptr("grace@example.org"), RequestID: "req-05", Data: `{}`},
	{ID: "ev_06", Type: LoginFailedEventType, Time: ts("2025-12-31T20:00:00Z"), SubjectID: ptr("usr_04"), Email: ptr("dave@example.com"), IP: ptr("198.51.100.7"), RequestID: "req-06", Data: `{"reason":"blocked"}`},
	{ID: "ev_07", Type: LoginFailedEventType, Time: ts("2025-12-31T21:00:00Z"), Email: ptr("mallory@example.net"), IP: ptr("198.51.100.7"), RequestID: "req-07", Data: `{}`},
	{ID: "ev_08", Type: LoginFailedEventType, Time: ts("2025-12-30T00:00:00Z"), Email: ptr("mallory@example.net"), IP: ptr("198.51.100.8"), RequestID: "req-08", Data: `{}`},
	{ID: "ev_09", Type: "user.created", Time: ts("2025-12-31T10:00:00Z"), ActorID: ptr("usr_01"), SubjectID: ptr("usr_06"), Email: ptr("eve@example.com"), RequestID: "req-09", Data: `{}`},
	{ID: "ev_10", Type: "user.updated", Time: ts("2025-06-01T00:00:00Z"), ActorID: ptr("usr_01"), SubjectID: ptr("usr_13"), RequestID: "req-10", Data: `{"fields":["role"]}`},
}

// seedFixture writes the fixture into gdb.
func seedFixture(t testing.TB, gdb *gorm.DB) {
	t.Helper()
	ctx := context.Background()
	users := fixtureModels()
	var identities []db.Identity
	memberships := []db.Membership{}
	for i, s := range fixtureUsers {
		for j, p := range s.providers {
			identities = append(identities, db.Identity{
				ID: "idn_" + s.key + "_" + p, UserID: users[i].ID, Provider: p, Subject: s.key,
				Email: users[i].Email, CreatedAt: ts(s.created).Add(time.Duration(j) * time.Hour),
			})
		}
		wss := make([]string, 0, len(s.workspaces))
		for ws := range s.workspaces {
			wss = append(wss, ws)
		}
		slices.Sort(wss)
		for _, ws := range wss {
			memberships = append(memberships, db.Membership{WorkspaceID: ws, UserID: users[i].ID, Role: s.workspaces[ws], JoinedAt: ts(s.created)})
		}
	}
	workspaces := []db.Workspace{
		{ID: "ws1", Name: "One", Slug: "one", OwnerID: fixtureID("alice"), CreatedAt: ts("2025-01-01T00:00:00Z"), UpdatedAt: ts("2025-01-01T00:00:00Z")},
		{ID: "ws2", Name: "Two", Slug: "two", OwnerID: fixtureID("carol"), CreatedAt: ts("2025-01-01T00:00:00Z"), UpdatedAt: ts("2025-01-01T00:00:00Z")},
	}
	codes := slices.Clone(fixtureCodes)
	events := slices.Clone(fixtureEvents)
	err := gdb.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		for _, v := range []any{&users, &identities, &workspaces, &memberships, &codes, &events} {
			if err := tx.Create(v).Error; err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("seed fixture: %v", err)
	}
}

// emailKeys returns the local parts of the users' emails, in order.
func emailKeys(users []db.User) []string {
	keys := make([]string, len(users))
	for i, u := range users {
		keys[i], _, _ = strings.Cut(u.Email, "@")
	}
	return keys
}

// allKeysExcept returns every fixture key but except, in email order.
func allKeysExcept(except ...string) []string {
	var keys []string
	for _, u := range fixtureModels() {
		k, _, _ := strings.Cut(u.Email, "@")
		if !slices.Contains(except, k) {
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, func(a, b string) int {
		return strings.Compare(fixtureEmail(a), fixtureEmail(b))
	})
	return keys
}

func fixtureEmail(key string) string {
	for _, u := range fixtureUsers {
		if u.key == key {
			return u.key + "@" + u.domain
		}
	}
	panic("no fixture user " + key)
}
