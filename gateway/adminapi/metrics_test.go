package adminapi

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"gorm.io/gorm"
)

func TestMetrics(t *testing.T) {
	// Counts that do not depend on now (see fixtureUsers).
	byMethod := map[string]int64{"password": 23, "email_code": 24, "google": 3, "github": 4, "oidc:acme": 2}
	base := func(m MetricsResult) MetricsResult {
		m.UsersTotal, m.UsersVerified, m.UsersUnverified, m.UsersBlocked, m.UsersMFA = 30, 24, 6, 3, 4
		m.UsersByAuthMethod = byMethod
		m.ActiveSessions = 7
		return m
	}
	tests := []struct {
		name string
		now  time.Time
		want MetricsResult
	}{
		{
			// 2025-12-31T23:59:59Z (dave) is last year; 2026-01-01T00:00:00Z
			// (eve) and 00:00:30 (frank, = now) are this month; pat
			// (2026-02-01) is this year but not this month. The 24 h window
			// starts at 2025-12-31T00:00:30Z inclusive (grace in, eveax at
			// :29 out); the 30 d one at 2025-12-02T00:00:30Z (ivan in, judy
			// out). Logins: ev_01 (on the boundary), ev_03, ev_04 (= now); not
			// ev_02 (1 s early) or ev_05 (1 s after now).
			name: "first seconds of the year",
			now:  ts("2026-01-01T00:00:30Z"),
			want: base(MetricsResult{
				UsersCreatedThisMonth: 2, UsersCreatedThisYear: 3,
				UsersActive24h: 5, UsersActive30d: 10,
				Logins24h: 3, FailedLogins24h: 2,
			}),
		},
		{
			// December 2025 from grace (12-01T00:00:00Z, the first instant)
			// to dave (12-31T23:59:59Z); 2025 from bob (01-01T00:00:00Z).
			name: "last second of the year",
			now:  ts("2025-12-31T23:59:59Z"),
			want: base(MetricsResult{
				UsersCreatedThisMonth: 10, UsersCreatedThisYear: 25,
				UsersActive24h: 5, UsersActive30d: 10,
				Logins24h: 3, FailedLogins24h: 2,
			}),
		},
		{
			name: "in another zone is the same instant",
			now:  ts("2025-12-31T23:59:59Z").In(time.FixedZone("east", 3*3600)),
			want: base(MetricsResult{
				UsersCreatedThisMonth: 10, UsersCreatedThisYear: 25,
				UsersActive24h: 5, UsersActive30d: 10,
				Logins24h: 3, FailedLogins24h: 2,
			}),
		},
		{
			// pat was created at the first instant of February.
			name: "first instant of a month",
			now:  ts("2026-02-01T00:00:00Z"),
			want: base(MetricsResult{UsersCreatedThisMonth: 1, UsersCreatedThisYear: 3}),
		},
		{
			name: "last microsecond of a month",
			now:  time.Date(2026, 1, 31, 23, 59, 59, 999999000, time.UTC),
			want: base(MetricsResult{UsersCreatedThisMonth: 2, UsersCreatedThisYear: 3}),
		},
	}
	forEachDB(t, func(t *testing.T, gdb *gorm.DB) {
		t.Run("empty database", func(t *testing.T) {
			got, err := Metrics(t.Context(), gdb, ts("2026-01-01T00:00:30Z"), 0)
			if err != nil {
				t.Fatal(err)
			}
			want := MetricsResult{UsersByAuthMethod: map[string]int64{"password": 0, "email_code": 0}}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("metrics (-want +got):\n%s", diff)
			}
		})
		seedFixture(t, gdb)
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				got, err := Metrics(t.Context(), gdb, tc.now, 7)
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(tc.want, got); diff != "" {
					t.Errorf("metrics (-want +got):\n%s", diff)
				}
			})
		}
	})
}

// The JSON field names are SPEC §4's.
func TestMetricsJSON(t *testing.T) {
	b, err := json.Marshal(MetricsResult{UsersByAuthMethod: map[string]int64{"password": 1}})
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"users_total": 0.0, "users_verified": 0.0, "users_unverified": 0.0, "users_blocked": 0.0,
		"users_mfa": 0.0, "users_created_this_month": 0.0, "users_created_this_year": 0.0,
		"users_active_24h": 0.0, "users_active_30d": 0.0, "users_by_auth_method": map[string]any{"password": 1.0},
		"logins_24h": 0.0, "failed_logins_24h": 0.0, "active_sessions": 0.0,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("JSON (-want +got):\n%s", diff)
	}
}
