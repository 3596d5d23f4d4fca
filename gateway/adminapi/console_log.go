package adminapi

import (
	"net/url"

	"github.com/gofiber/fiber/v2"

	"gatehouse/gateway"
	"gatehouse/gateway/pages"
)

// logForm are the audit log's query parameters beside sort, order and
// page: the search (type and email) and the filters of Audit.
var logForm = []string{"q", "type", "actor_id", "subject_id", "email", "ip", "request_id", "from", "to"}

// codesForm are the verification requests' query parameters.
var codesForm = []string{"q", "purpose", "state"}

// Code purposes, as the verification requests' filter offers them.
var codePurposes = []string{"verify_email", "login", "reset_password", "change_email"}

// logPageData is the audit log's data.
type logPageData struct {
	pages.Data
	Form    url.Values
	Entries []AuditEntry
	Columns map[string]column
	Pager   pager
}

// F is the form field name's value.
func (d *logPageData) F(name string) string { return d.Form.Get(name) }

// logPage is GET /admin/log: the audit log, newest first, filtered.
func (s *Service) logPage(c *fiber.Ctx) error {
	lq := readListQuery(c, logForm)
	base := s.pages().URL("admin/log", nil)
	d := &logPageData{Data: s.consoleData(c, sectionLog), Form: lq.Values, Entries: []AuditEntry{}}
	d.Columns = lq.columns(base, []string{"time", "type"}, Audit.DefaultSort, Audit.DefaultOrder)
	bad := map[string]string{}
	filter := map[string]any{}
	for _, k := range []string{"q", "type", "actor_id", "subject_id", "email", "ip", "request_id"} {
		if v := lq.Values.Get(k); v != "" {
			filter[k] = v
		}
	}
	if r := dateRange(lq, "from", "to", bad); r != nil {
		filter["time"] = r
	}
	var formErr error
	if len(bad) > 0 {
		formErr = gateway.ValidationFailed(bad)
	}
	l, err := consoleList(c, s.db, Audit, lq, filter, formErr, &d.Entries)
	if err != nil {
		return err
	}
	d.Failure = l.failure
	d.Pager = l.pager(lq, base, lq.Values.Get("q") != "" || lq.Values.Get("email") != "")
	return s.pages().RenderOwn(c, l.status, "admin-log", d, &d.Data)
}

// codesPageData is the verification requests' data.
type codesPageData struct {
	pages.Data
	Form     url.Values
	Purposes []string
	Codes    []VerificationRequest
	Columns  map[string]column
	Pager    pager
}

// F is the form field name's value.
func (d *codesPageData) F(name string) string { return d.Form.Get(name) }

// codesPage is GET /admin/codes: the emailed codes (never a code),
// newest first; state "usable" lists those not used yet.
func (s *Service) codesPage(c *fiber.Ctx) error { return s.renderCodes(c, nil) }

// renderCodes renders the verification requests, with the refusal of a
// Delete button when failure is not nil.
func (s *Service) renderCodes(c *fiber.Ctx, failure *gateway.Error) error {
	lq := readListQuery(c, codesForm)
	base := s.pages().URL("admin/codes", nil)
	d := &codesPageData{Data: s.consoleData(c, sectionCodes), Form: lq.Values, Purposes: codePurposes, Codes: []VerificationRequest{}}
	d.Notice = notice(c)
	d.Columns = lq.columns(base, []string{"email", "purpose", "created_at", "expires_at", "attempts"},
		VerificationRequests.DefaultSort, VerificationRequests.DefaultOrder)
	filter := map[string]any{}
	if v := lq.Values.Get("q"); v != "" {
		filter["q"] = v
	}
	if v := lq.Values.Get("purpose"); v != "" {
		filter["purpose"] = v
	}
	switch lq.Values.Get("state") {
	case "usable":
		filter["consumed_at"] = "null"
	case "used":
		filter["consumed_at"] = "!null"
	}
	l, err := consoleList(c, s.db, VerificationRequests, lq, filter, nil, &d.Codes)
	if err != nil {
		return err
	}
	status := l.status
	d.Failure = l.failure
	if failure != nil {
		d.Failure, status = failure, failure.Status
	}
	d.Pager = l.pager(lq, base, lq.Values.Get("q") != "")
	return s.pages().RenderOwn(c, status, "admin-codes", d, &d.Data)
}

// codeForm is POST /admin/codes/{id}/delete: DELETE
// /admin/verification-requests/{id}, then back to the list; a refusal
// (the request is gone) is the list with its message.
func (s *Service) codeForm(c *fiber.Ctx) error {
	if err := s.adminDeleteCode(c); err != nil {
		ge, ok := pageFailure(err)
		if !ok {
			return err
		}
		c.Response().ResetBody()
		return s.renderCodes(c, ge)
	}
	c.Response().ResetBody()
	return c.Redirect(s.consoleURL("codes", url.Values{"notice": {"code_deleted"}}), fiber.StatusSeeOther)
}
