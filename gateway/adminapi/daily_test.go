package adminapi

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"gorm.io/gorm"

	"gatehouse/gateway/db"
	"gatehouse/gateway/events"
)

func TestDaily(t *testing.T) {
	// fixtureEvents by UTC day: 12-30 one failed sign-in (at midnight);
	// 12-31 one sign-up, three sign-ins, two failed; 01-01 two sign-ins
	// (one a second after "now": the current day counts whole). The test
	// adds a sign-up in the last microsecond of 12-29 and an event of
	// another type.
	extra := []db.AuditEvent{
		{ID: "ev_d1", Type: events.UserCreated, Time: time.Date(2025, 12, 29, 23, 59, 59, 999999000, time.UTC), RequestID: "d1", Data: `{}`},
		{ID: "ev_d2", Type: events.UserLogout, Time: ts("2025-12-31T12:00:00Z"), RequestID: "d2", Data: `{}`},
	}
	d := func(date string, up, in, failed int64) Day {
		return Day{Date: date, SignUps: up, SignIns: in, SignInsFailed: failed}
	}
	tests := []struct {
		name string
		now  time.Time
		days int
		want []Day
	}{
		{name: "three days", now: ts("2026-01-01T00:00:30Z"), days: 3, want: []Day{
			d("2025-12-30", 0, 0, 1), d("2025-12-31", 1, 3, 2), d("2026-01-01", 0, 2, 0)}},
		{name: "the day before starts at its first instant and ends at its last", now: ts("2026-01-01T00:00:30Z"), days: 4, want: []Day{
			d("2025-12-29", 1, 0, 0), d("2025-12-30", 0, 0, 1), d("2025-12-31", 1, 3, 2), d("2026-01-01", 0, 2, 0)}},
		{name: "one day", now: ts("2026-01-01T23:59:59Z"), days: 1, want: []Day{d("2026-01-01", 0, 2, 0)}},
		{name: "now in another zone is its UTC day", now: time.Date(2026, 1, 1, 2, 0, 0, 0, time.FixedZone("east", 3*3600)), days: 2, want: []Day{
			d("2025-12-30", 0, 0, 1), d("2025-12-31", 1, 3, 2)}},
		{name: "days without events are zeros", now: ts("2026-01-03T08:00:00Z"), days: 5, want: []Day{
			d("2025-12-30", 0, 0, 1), d("2025-12-31", 1, 3, 2), d("2026-01-01", 0, 2, 0), d("2026-01-02", 0, 0, 0), d("2026-01-03", 0, 0, 0)}},
	}
	forEachDB(t, func(t *testing.T, gdb *gorm.DB) {
		t.Run("empty database", func(t *testing.T) {
			got, err := Daily(t.Context(), gdb, ts("2026-01-01T00:00:30Z"), 2)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]Day{d("2025-12-31", 0, 0, 0), d("2026-01-01", 0, 0, 0)}, got); diff != "" {
				t.Errorf("days (-want +got):\n%s", diff)
			}
		})
		seedFixture(t, gdb)
		if err := gdb.Create(&extra).Error; err != nil {
			t.Fatal(err)
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				got, err := Daily(t.Context(), gdb, tc.now, tc.days)
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(tc.want, got); diff != "" {
					t.Errorf("days (-want +got):\n%s", diff)
				}
			})
		}
		t.Run("a year and a day", func(t *testing.T) {
			got, err := Daily(t.Context(), gdb, ts("2026-12-31T00:00:00Z"), MaxDays)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != MaxDays || got[0].Date != "2025-12-31" || got[MaxDays-1].Date != "2026-12-31" {
				t.Fatalf("%d days from %s to %s", len(got), got[0].Date, got[len(got)-1].Date)
			}
			if got[0] != d("2025-12-31", 1, 3, 2) {
				t.Errorf("first day %+v", got[0])
			}
		})
	})
}
