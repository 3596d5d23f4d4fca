// Command apidoc renders docs/api.md, the API reference, from
// docs/openapi.yaml: one section per tag, each operation with its method,
// path, what it does, its parameters, body fields and answers, then the
// shared objects. Run it from the repository root after editing the
// document:
//
//	go run ./tools/apidoc
//
// Its test fails when docs/api.md is not what it renders
// (go test ./tools/apidoc -update rewrites it).
package main

import (
	"flag"
	"fmt"
	"os"
)

func main() {
	in := flag.String("in", "docs/openapi.yaml", "the OpenAPI document")
	out := flag.String("out", "docs/api.md", "the Markdown file to write")
	flag.Parse()
	md, err := RenderFile(*in)
	if err != nil {
		fmt.Fprintln(os.Stderr, "apidoc:", err)
		os.Exit(1)
	}
	if err := os.WriteFile(*out, md, 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "apidoc:", err)
		os.Exit(1)
	}
}
