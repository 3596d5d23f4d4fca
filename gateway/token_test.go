package gateway

import "testing"

func TestIsToken(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want bool
	}{
		{name: "a header name", in: "X-Request-Id", want: true},
		{name: "symbols of RFC 9110", in: "a!#$%&'*+-.^_`|~z", want: true},
		{name: "empty", in: "", want: false},
		{name: "a space", in: "X Id", want: false},
		{name: "a colon", in: "X-Id:", want: false},
		{name: "CR", in: "X-Id\r", want: false},
		{name: "non-ASCII", in: "X-Ïd", want: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := IsToken(tc.in); got != tc.want {
				t.Errorf("IsToken(%q) = %v, want %v", tc.in, got, tc.want)
			}
		})
	}
}
