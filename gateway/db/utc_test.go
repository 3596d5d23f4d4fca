package db

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"gorm.io/gorm"
)

// The pool's UTC conversion makes SQLite compare and sort times correctly
// whatever zone the caller's time.Time is in.
func TestTimeComparisonAcrossZones(t *testing.T) {
	forEachMigrated(t, func(t *testing.T, _ string, gdb *gorm.DB) {
		ctx := t.Context()
		base := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
		east := time.FixedZone("east", 9*3600)
		west := time.FixedZone("west", -7*3600)
		items := []OutboxItem{
			{Kind: OutboxMail, Payload: "a", NextAttemptAt: base.Add(-2 * time.Hour).In(east)},
			{Kind: OutboxMail, Payload: "b", NextAttemptAt: base.Add(-1 * time.Hour).In(west)},
			{Kind: OutboxMail, Payload: "c", NextAttemptAt: base.Add(30 * time.Minute).In(east)},
			{Kind: OutboxMail, Payload: "d", NextAttemptAt: base.Add(2 * time.Hour).In(west)},
		}
		if err := gdb.WithContext(ctx).Create(&items).Error; err != nil {
			t.Fatal(err)
		}
		var due []string
		err := gdb.WithContext(ctx).Model(&OutboxItem{}).
			Where("status = ? AND next_attempt_at <= ?", OutboxPending, base.In(east)).
			Order("next_attempt_at").Pluck("payload", &due).Error
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]string{"a", "b"}, due); diff != "" {
			t.Errorf("due items (-want +got):\n%s", diff)
		}
		var all []string
		if err := gdb.WithContext(ctx).Model(&OutboxItem{}).Order("next_attempt_at DESC").Pluck("payload", &all).Error; err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]string{"d", "c", "b", "a"}, all); diff != "" {
			t.Errorf("order (-want +got):\n%s", diff)
		}
	})
}
