package adminapi

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"
	"gorm.io/gorm"

	"gatehouse/gateway"
	"gatehouse/gateway/db"
	"gatehouse/gateway/events"
)

// Bounds of GET /admin/metrics/daily's days parameter.
const (
	DefaultDays = 30
	MaxDays     = 366
)

// Day is one UTC calendar day of the daily series.
type Day struct {
	// Date is the day, YYYY-MM-DD (UTC).
	Date string `json:"date"`
	// SignUps counts user.created records, SignIns user.login and
	// SignInsFailed user.login_failed, with time in that day.
	SignUps       int64 `json:"sign_ups"`
	SignIns       int64 `json:"sign_ins"`
	SignInsFailed int64 `json:"sign_ins_failed"`
}

// dayExpr is the UTC day of audit_events."time" as YYYY-MM-DD. SQLite
// keeps times as UTC text ("2006-01-02 15:04:05.999999+00:00", see
// gateway/db), so the day is its first ten characters.
var dayExpr = map[string]string{
	db.DriverPostgres: `to_char("time" AT TIME ZONE 'UTC', 'YYYY-MM-DD')`,
	db.DriverSQLite:   `substr("time", 1, 10)`,
}

// The (type, time) index serves the WHERE of each type; one grouped scan
// reads only the rows counted.
const dailySQL = `SELECT %s AS day, type, COUNT(*) AS n
FROM audit_events
WHERE type IN (?, ?, ?) AND "time" >= ? AND "time" < ?
GROUP BY 1, 2`

// Daily counts sign-ups, sign-ins and failed sign-ins per UTC day over
// the days days ending with now's (1..MaxDays), oldest first, every day
// present (zeros included), in one grouped query over audit_events.
func Daily(ctx context.Context, gdb *gorm.DB, now time.Time, days int) ([]Day, error) {
	days = min(max(days, 1), MaxDays)
	now = now.UTC()
	first := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC).AddDate(0, 0, 1-days)
	expr, ok := dayExpr[gdb.Dialector.Name()]
	if !ok {
		return nil, fmt.Errorf("admin: daily: no day expression for %s", gdb.Dialector.Name())
	}
	var rows []struct {
		Day  string `gorm:"column:day"`
		Type string `gorm:"column:type"`
		N    int64  `gorm:"column:n"`
	}
	err := gdb.WithContext(ctx).Raw(fmt.Sprintf(dailySQL, expr),
		events.UserCreated, events.UserLogin, events.UserLoginFailed, first, first.AddDate(0, 0, days)).
		Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("admin: daily: %w", err)
	}
	out := make([]Day, days)
	index := make(map[string]int, days)
	for i := range out {
		out[i].Date = first.AddDate(0, 0, i).Format(time.DateOnly)
		index[out[i].Date] = i
	}
	for _, r := range rows {
		i, ok := index[r.Day]
		if !ok {
			continue
		}
		switch r.Type {
		case events.UserCreated:
			out[i].SignUps = r.N
		case events.UserLogin:
			out[i].SignIns = r.N
		case events.UserLoginFailed:
			out[i].SignInsFailed = r.N
		}
	}
	return out, nil
}

// adminMetricsDaily is GET /admin/metrics/daily?days=30 → {data: [day]}.
func (s *Service) adminMetricsDaily(c *fiber.Ctx) error {
	days := DefaultDays
	if v := c.Query("days"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxDays {
			return gateway.ValidationFailed(map[string]string{"days": "want a whole number from 1 to " + strconv.Itoa(MaxDays)})
		}
		days = n
	}
	out, err := Daily(c.UserContext(), s.db, s.clock(), days)
	if err != nil {
		return gateway.Internal(err)
	}
	return c.JSON(fiber.Map{"data": out})
}
