package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestHealthCommand: "gatehouse health" says ready only while a real
// gateway serves on server.listen, and fails with the reason otherwise.
func TestHealthCommand(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cfgPath := writeToolConfig(t, fmt.Sprintf("server: { listen: \"0.0.0.0:%d\", public_url: \"http://127.0.0.1:%d\" }\n", port, port))
	health := func(args ...string) (string, error) {
		var out, errw bytes.Buffer
		root := newRoot(&out, &errw)
		root.SetArgs(append([]string{"health", "--config", cfgPath, "--timeout", "1s"}, args...))
		err := root.ExecuteContext(context.Background())
		return out.String(), err
	}
	if _, err := health(); err == nil || !strings.Contains(err.Error(), "not ready") {
		t.Fatalf("nothing listening: %v", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() {
		var out, errw bytes.Buffer
		root := newRoot(&out, &errw)
		root.SetArgs([]string{"serve", "--config", cfgPath})
		served <- root.ExecuteContext(ctx)
	}()
	deadline := time.Now().Add(60 * time.Second)
	for {
		out, err := health()
		if err == nil {
			if strings.TrimSpace(out) != "ready" {
				t.Fatalf("output %q", out)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("never ready: %v", err)
		}
		select {
		case err := <-served:
			t.Fatalf("serve stopped: %v", err)
		case <-time.After(100 * time.Millisecond):
		}
	}
	cancel()
	if err := <-served; err != nil {
		t.Fatalf("serve: %v", err)
	}
	if _, err := health(); err == nil {
		t.Error("ready after the gateway stopped")
	}

	// --url: an answer other than 200 is not ready, and says what came.
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer down.Close()
	if _, err := health("--url", down.URL+"/readyz"); err == nil || !strings.Contains(err.Error(), "503") {
		t.Errorf("a 503: %v", err)
	}
}

func TestReadyURL(t *testing.T) {
	for listen, want := range map[string]string{
		"0.0.0.0:8080":   "http://127.0.0.1:8080/readyz",
		":8080":          "http://127.0.0.1:8080/readyz",
		"[::]:8080":      "http://[::1]:8080/readyz",
		"10.1.2.3:9000":  "http://10.1.2.3:9000/readyz",
		"gatehouse:8080": "http://gatehouse:8080/readyz",
	} {
		if got, err := readyURL(listen); err != nil || got != want {
			t.Errorf("readyURL(%q) = %q, %v; want %q", listen, got, err, want)
		}
	}
	if _, err := readyURL("8080"); err == nil {
		t.Error("a listen address without a port was accepted")
	}
}
