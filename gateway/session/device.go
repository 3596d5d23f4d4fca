package session

import (
	"strings"

	"github.com/mileusna/useragent"
)

// DeviceName is a session's user agent as a person names it: browser and
// operating system ("Chrome · macOS"), "" when it says neither. The
// account page and the admin console show sessions by it.
func DeviceName(userAgent string) string {
	if strings.TrimSpace(userAgent) == "" {
		return ""
	}
	ua := useragent.Parse(userAgent)
	switch {
	case ua.Name == "" && ua.OS == "":
		return ""
	case ua.Name == "":
		return ua.OS
	case ua.OS == "":
		return ua.Name
	}
	return ua.Name + " · " + ua.OS
}
