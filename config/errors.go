package config

import (
	"fmt"
	"strings"
)

// Problem is one thing wrong with a configuration.
type Problem struct {
	// Path is the dotted key path, e.g. "routes[2].upstream"; "" for a
	// problem with the file as a whole (YAML syntax, a bad ${…}).
	Path string
	// Message says what is wrong, lower-case, without the path. Secrets
	// are never quoted in it.
	Message string
	// Line is the 1-based line of the key (or of its nearest enclosing
	// key) in the file, or 0 when unknown: a key left out, or Validate on
	// a Config built in code. Error text leaves it out; `config check`
	// may print it.
	Line int
}

// String is "path: message", or the message alone when Path is "".
func (p Problem) String() string {
	if p.Path == "" {
		return p.Message
	}
	return p.Path + ": " + p.Message
}

// Errors is every problem found in a configuration. Load, Parse and
// Validate return it (as error) so that `gatehouse config check` can print
// each; use errors.As to get at the list.
type Errors struct {
	// Problems are in file order from Parse and Load (those without a
	// line first), in schema order from Validate.
	Problems []Problem
}

// Error is one "path: message" line per problem.
func (e *Errors) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// add records a problem at path.
func (e *Errors) add(path, format string, args ...any) {
	e.Problems = append(e.Problems, Problem{Path: path, Message: fmt.Sprintf(format, args...)})
}

// err is e as an error, or nil when there is no problem.
func (e *Errors) err() error {
	if e == nil || len(e.Problems) == 0 {
		return nil
	}
	return e
}
