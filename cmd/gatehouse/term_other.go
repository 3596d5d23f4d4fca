//go:build !linux && !darwin && !freebsd && !netbsd && !openbsd

package main

import "os"

// isTerminal is false where Gatehouse cannot ask: the CLI then never
// prompts (migrate down still needs --yes for the first migration).
func isTerminal(*os.File) bool { return false }
