package adminapi

import (
	"cmp"
	"slices"
	"strconv"

	"github.com/gofiber/fiber/v2"

	"gatehouse/gateway"
	"gatehouse/gateway/lang"
	"gatehouse/gateway/pages"
)

// Chart geometry (SVG user units; the chart scales to its box).
const (
	chartWidth  = 640
	chartHeight = 200
	chartLeft   = 34 // room for the scale's numbers
	chartTop    = 8
	chartBottom = 22 // room for the dates
)

// chartSeries is one series of a chart: its message id (with Count, the
// bar's label) and CSS class.
type chartSeries struct {
	Key, Label, Class string
	value             func(Day) int64
}

// chartBar is one day's bar of one series.
type chartBar struct {
	X, Y, W, H   string
	Class, Title string
	Date, Series string
	Value        int64
}

// chartTick is a label under the bars (a date) or beside them (a count).
type chartTick struct {
	X, Y, Label string
	Anchor      string // text-anchor: end (the counts) or middle (the dates)
}

// chart is a bar chart of daily counts, drawn on the server as SVG.
type chart struct {
	ID, Title     string
	Width, Height int
	Base          string // the y of the baseline
	Left, Right   string // the x of the baseline's ends
	Bars          []chartBar
	Ticks         []chartTick
	Legend        []chartSeries
}

// newChart draws days as bars, one group per day, one bar per series,
// scaled to the largest count (at least 1).
func newChart(id, title string, days []Day, series []chartSeries, l *lang.Localizer) chart {
	ch := chart{ID: id, Title: title, Width: chartWidth, Height: chartHeight, Legend: series}
	plotW, plotH := float64(chartWidth-chartLeft), float64(chartHeight-chartTop-chartBottom)
	base := float64(chartHeight - chartBottom)
	ch.Base, ch.Left, ch.Right = num(base), num(chartLeft), num(chartWidth)
	var top int64 = 1
	for _, d := range days {
		for _, s := range series {
			top = max(top, s.value(d))
		}
	}
	ch.Ticks = append(ch.Ticks, chartTick{X: num(chartLeft - 4), Y: num(chartTop + 10), Label: strconv.FormatInt(top, 10), Anchor: "end"},
		chartTick{X: num(chartLeft - 4), Y: num(base), Label: "0", Anchor: "end"})
	if len(days) == 0 {
		return ch
	}
	slot := plotW / float64(len(days))
	w := slot * 0.8 / float64(len(series))
	for i, d := range days {
		x0 := chartLeft + float64(i)*slot + slot*0.1
		for j, s := range series {
			v := s.value(d)
			h := plotH * float64(v) / float64(top)
			ch.Bars = append(ch.Bars, chartBar{X: num(x0 + float64(j)*w), Y: num(base - h), W: num(w), H: num(h),
				Class: s.Class, Date: d.Date, Series: s.Key, Value: v,
				Title: d.Date + ": " + l.T(s.Label, "Count", v)})
		}
		if (len(days)-1-i)%7 == 0 { // every week back from today
			ch.Ticks = append(ch.Ticks, chartTick{X: num(x0 + slot*0.4), Y: num(chartHeight - 6), Label: d.Date[5:], Anchor: "middle"})
		}
	}
	return ch
}

// num is an SVG coordinate.
func num(f float64) string { return strconv.FormatFloat(f, 'f', 1, 64) }

// metricFigure is one figure of GET /admin/metrics with its label.
type metricFigure struct {
	Key, Label string
	Value      int64
}

// methodCount is users_by_auth_method's count of one method.
type methodCount struct {
	Method string
	Users  int64
}

// activityPageData is the activity page's data.
type activityPageData struct {
	pages.Data
	Figures []metricFigure
	Methods []methodCount
	Days    []Day
	Charts  []chart
}

// activityPage is GET /admin/activity: the figures of GET /admin/metrics,
// then sign-ups and sign-ins per day over DefaultDays days as charts and
// as a table of the same numbers (those of GET /admin/metrics/daily).
func (s *Service) activityPage(c *fiber.Ctx) error {
	ctx := c.UserContext()
	now := s.clock().UTC()
	m, err := s.metrics(ctx, now)
	if err != nil {
		return err
	}
	days, err := Daily(ctx, s.db, now, DefaultDays)
	if err != nil {
		return gateway.Internal(err)
	}
	p := s.pages()
	l := p.Catalog().In(p.Language(c))
	d := &activityPageData{Data: s.consoleData(c, sectionActivity), Days: days}
	for _, f := range []struct {
		key string
		v   int64
	}{
		{"users_total", m.UsersTotal}, {"users_verified", m.UsersVerified}, {"users_unverified", m.UsersUnverified},
		{"users_blocked", m.UsersBlocked}, {"users_mfa", m.UsersMFA}, {"users_created_this_month", m.UsersCreatedThisMonth},
		{"users_created_this_year", m.UsersCreatedThisYear}, {"users_active_24h", m.UsersActive24h},
		{"users_active_30d", m.UsersActive30d}, {"logins_24h", m.Logins24h}, {"failed_logins_24h", m.FailedLogins24h},
		{"active_sessions", m.ActiveSessions},
	} {
		d.Figures = append(d.Figures, metricFigure{Key: f.key, Label: l.T("admin.metric." + f.key), Value: f.v})
	}
	for k, v := range m.UsersByAuthMethod {
		d.Methods = append(d.Methods, methodCount{Method: k, Users: v})
	}
	slices.SortFunc(d.Methods, func(a, b methodCount) int {
		return cmp.Or(cmp.Compare(b.Users, a.Users), cmp.Compare(a.Method, b.Method))
	})
	d.Charts = []chart{
		newChart("sign-ups", l.T("admin.chart.sign_ups"), days, []chartSeries{
			{Key: "sign_ups", Label: "admin.bar.sign_ups", Class: "bar-a", value: func(d Day) int64 { return d.SignUps }},
		}, l),
		newChart("sign-ins", l.T("admin.chart.sign_ins"), days, []chartSeries{
			{Key: "sign_ins", Label: "admin.bar.sign_ins", Class: "bar-b", value: func(d Day) int64 { return d.SignIns }},
			{Key: "sign_ins_failed", Label: "admin.bar.sign_ins_failed", Class: "bar-c", value: func(d Day) int64 { return d.SignInsFailed }},
		}, l),
	}
	return p.RenderOwn(c, fiber.StatusOK, "admin-activity", d, &d.Data)
}
