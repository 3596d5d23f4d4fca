package adminapi

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// Audit event types that Metrics counts. Whoever records sign-ins in
// audit_events must use these names: a successful sign-in (any method,
// after the second factor when there is one) is LoginEventType, a refused
// one (wrong password or code, blocked, locked) LoginFailedEventType.
const (
	LoginEventType       = "user.login"
	LoginFailedEventType = "user.login_failed"
)

// Sign-in methods that are not provider names, as in the user object's
// auth_methods and the auth_method filter.
const (
	MethodPassword  = "password"
	MethodEmailCode = "email_code"
)

// MetricsResult is the body of GET /admin/metrics (SPEC §4).
type MetricsResult struct {
	UsersTotal      int64 `json:"users_total"`
	UsersVerified   int64 `json:"users_verified"`
	UsersUnverified int64 `json:"users_unverified"`
	UsersBlocked    int64 `json:"users_blocked"`
	UsersMFA        int64 `json:"users_mfa"`
	// UsersCreatedThisMonth and UsersCreatedThisYear count users created in
	// now's calendar month and year, in UTC: [first instant, first instant
	// of the next).
	UsersCreatedThisMonth int64 `json:"users_created_this_month"`
	UsersCreatedThisYear  int64 `json:"users_created_this_year"`
	// UsersActive24h and UsersActive30d count users whose last_login_at is
	// in [now-24h, now] and [now-30×24h, now].
	UsersActive24h int64 `json:"users_active_24h"`
	UsersActive30d int64 `json:"users_active_30d"`
	// UsersByAuthMethod counts users per sign-in method: "password" (a
	// password set), "email_code" (a verified email: they can sign in with
	// an emailed code when that provider is on; handlers drop the key when
	// it is off), and each linked provider (google, github, oidc:NAME) that
	// at least one user has. A user counts once under each of its methods.
	UsersByAuthMethod map[string]int64 `json:"users_by_auth_method"`
	// Logins24h and FailedLogins24h count audit events of LoginEventType
	// and LoginFailedEventType with time in [now-24h, now].
	Logins24h       int64 `json:"logins_24h"`
	FailedLogins24h int64 `json:"failed_logins_24h"`
	// ActiveSessions is passed in: sessions live in the session store.
	ActiveSessions int64 `json:"active_sessions"`
}

// userCounts is the one aggregate row over users.
type userCounts struct {
	Total     int64 `gorm:"column:total"`
	Verified  int64 `gorm:"column:verified"`
	Blocked   int64 `gorm:"column:blocked"`
	MFA       int64 `gorm:"column:mfa"`
	Month     int64 `gorm:"column:month"`
	Year      int64 `gorm:"column:year"`
	Active24h int64 `gorm:"column:active_24h"`
	Active30d int64 `gorm:"column:active_30d"`
	Password  int64 `gorm:"column:password"`
}

// SUM(CASE ...) rather than COUNT(*) FILTER: SQLite and Postgres both have
// it. COALESCE because SUM over no rows is NULL.
const userCountsSQL = `SELECT
	COUNT(*) AS total,
	COALESCE(SUM(CASE WHEN email_verified THEN 1 ELSE 0 END), 0) AS verified,
	COALESCE(SUM(CASE WHEN blocked THEN 1 ELSE 0 END), 0) AS blocked,
	COALESCE(SUM(CASE WHEN mfa_enabled THEN 1 ELSE 0 END), 0) AS mfa,
	COALESCE(SUM(CASE WHEN created_at >= ? AND created_at < ? THEN 1 ELSE 0 END), 0) AS month,
	COALESCE(SUM(CASE WHEN created_at >= ? AND created_at < ? THEN 1 ELSE 0 END), 0) AS year,
	COALESCE(SUM(CASE WHEN last_login_at >= ? AND last_login_at <= ? THEN 1 ELSE 0 END), 0) AS active_24h,
	COALESCE(SUM(CASE WHEN last_login_at >= ? AND last_login_at <= ? THEN 1 ELSE 0 END), 0) AS active_30d,
	COALESCE(SUM(CASE WHEN password_hash IS NOT NULL AND password_hash <> '' THEN 1 ELSE 0 END), 0) AS password
FROM users`

// identities has one row per (user, provider): COUNT(*) counts users.
const providerCountsSQL = `SELECT provider, COUNT(*) AS n FROM identities GROUP BY provider`

// The (type, time) index serves this.
const loginCountsSQL = `SELECT
	COALESCE(SUM(CASE WHEN type = ? THEN 1 ELSE 0 END), 0) AS ok,
	COALESCE(SUM(CASE WHEN type = ? THEN 1 ELSE 0 END), 0) AS failed
FROM audit_events
WHERE type IN (?, ?) AND "time" >= ? AND "time" <= ?`

// Metrics computes the admin dashboard figures as of now with three
// aggregate queries (users, identities, audit events); no rows are loaded.
func Metrics(ctx context.Context, gdb *gorm.DB, now time.Time, activeSessions int64) (MetricsResult, error) {
	now = now.UTC()
	month := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	year := time.Date(now.Year(), time.January, 1, 0, 0, 0, 0, time.UTC)
	day := now.Add(-24 * time.Hour)
	days30 := now.Add(-30 * 24 * time.Hour)
	tx := gdb.WithContext(ctx)

	var u userCounts
	err := tx.Raw(userCountsSQL,
		month, month.AddDate(0, 1, 0),
		year, year.AddDate(1, 0, 0),
		day, now,
		days30, now,
	).Scan(&u).Error
	if err != nil {
		return MetricsResult{}, fmt.Errorf("admin: metrics: users: %w", err)
	}

	var providers []struct {
		Provider string `gorm:"column:provider"`
		N        int64  `gorm:"column:n"`
	}
	if err := tx.Raw(providerCountsSQL).Scan(&providers).Error; err != nil {
		return MetricsResult{}, fmt.Errorf("admin: metrics: identities: %w", err)
	}

	var logins struct {
		OK     int64 `gorm:"column:ok"`
		Failed int64 `gorm:"column:failed"`
	}
	err = tx.Raw(loginCountsSQL,
		LoginEventType, LoginFailedEventType,
		LoginEventType, LoginFailedEventType, day, now,
	).Scan(&logins).Error
	if err != nil {
		return MetricsResult{}, fmt.Errorf("admin: metrics: audit events: %w", err)
	}

	byMethod := map[string]int64{MethodPassword: u.Password, MethodEmailCode: u.Verified}
	for _, p := range providers {
		byMethod[p.Provider] = p.N
	}
	return MetricsResult{
		UsersTotal:            u.Total,
		UsersVerified:         u.Verified,
		UsersUnverified:       u.Total - u.Verified,
		UsersBlocked:          u.Blocked,
		UsersMFA:              u.MFA,
		UsersCreatedThisMonth: u.Month,
		UsersCreatedThisYear:  u.Year,
		UsersActive24h:        u.Active24h,
		UsersActive30d:        u.Active30d,
		UsersByAuthMethod:     byMethod,
		Logins24h:             logins.OK,
		FailedLogins24h:       logins.Failed,
		ActiveSessions:        activeSessions,
	}, nil
}
