package config

import (
	"fmt"
	"strings"
)

// expand replaces environment references in the raw text of gateway.yaml,
// before it is parsed as YAML:
//
//   - ${VAR} is VAR's value; an unset VAR becomes "".
//   - ${VAR:-default} is VAR's value, or default when VAR is unset or
//     empty (as in sh). default runs to the first "}" and is not expanded
//     again, so defaults do not nest.
//   - $$ is an escaped "$": "$${VAR}" is the literal text "${VAR}".
//   - A bare $VAR, and a "$" before anything else, stay as written.
//
// VAR is [A-Za-z_][A-Za-z0-9_]*. A "${" without its "}" on the same line,
// or any other form inside ${…} (${VAR:?msg}, ${VAR-x}, ${1}), is a
// problem rather than a guess. Values are inserted as they are, so a value
// with YAML-special characters (": ", " #", a leading "*" or "&") should be
// referenced inside quotes: secret: "${GATEHOUSE_SECRET}". Comments are
// expanded too, which is harmless.
func expand(text string, lookupEnv func(string) (string, bool)) (string, []Problem) {
	if !strings.Contains(text, "$") {
		return text, nil
	}
	var b strings.Builder
	b.Grow(len(text))
	var problems []Problem
	line := 1
	for i := 0; i < len(text); {
		c := text[i]
		if c != '$' || i+1 == len(text) {
			if c == '\n' {
				line++
			}
			b.WriteByte(c)
			i++
			continue
		}
		switch text[i+1] {
		case '$':
			b.WriteByte('$')
			i += 2
		case '{':
			rest := text[i+2:]
			end := strings.IndexByte(rest, '}')
			if nl := strings.IndexByte(rest, '\n'); end < 0 || (nl >= 0 && nl < end) {
				problems = append(problems, Problem{Line: line,
					Message: fmt.Sprintf(`line %d: unterminated "${": want ${VAR} or ${VAR:-default}`, line)})
				b.WriteString("${")
				i += 2
				continue
			}
			body := rest[:end]
			i += 2 + end + 1
			name, def, hasDef := strings.Cut(body, ":-")
			if !isEnvName(name) {
				problems = append(problems, Problem{Line: line,
					Message: fmt.Sprintf(`line %d: bad reference "${%s}": want ${VAR} or ${VAR:-default}`, line, body)})
				continue
			}
			v, ok := lookupEnv(name)
			if hasDef && (!ok || v == "") {
				v = def
			}
			b.WriteString(v)
		default:
			b.WriteByte('$')
			i++
		}
	}
	return b.String(), problems
}

// isEnvName reports a shell variable name: [A-Za-z_][A-Za-z0-9_]*.
func isEnvName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '_', 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		case '0' <= c && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}
