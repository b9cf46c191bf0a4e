package config

import (
	"testing"
	"time"
)

func TestParseSize(t *testing.T) {
	tests := []struct {
		in      string
		want    int64
		wantErr string
	}{
		{in: "512Mi", want: 512 << 20},
		{in: "1Gi", want: 1 << 30},
		{in: "1GiB", want: 1 << 30},
		{in: "1G", want: 1_000_000_000},
		{in: "10k", want: 10_000},
		{in: "2Ti", want: 2 << 40},
		{in: "4096", want: 4096},
		{in: "0", want: 0},
		{in: "1.5Ki", want: 1536},
		{in: " 2 Mi ", want: 2 << 20},
		{in: "", wantErr: `invalid size "" (want bytes or a number with Ki, Mi, Gi, Ti, K, M, G or T, like 512Mi)`},
		{in: "Mi", wantErr: `invalid size "Mi" (want bytes or a number with Ki, Mi, Gi, Ti, K, M, G or T, like 512Mi)`},
		{in: "12Zi", wantErr: `invalid size "12Zi" (want bytes or a number with Ki, Mi, Gi, Ti, K, M, G or T, like 512Mi)`},
		{in: "-1", wantErr: `invalid size "-1" (want bytes or a number with Ki, Mi, Gi, Ti, K, M, G or T, like 512Mi)`},
		{in: "1.2.3", wantErr: `invalid size "1.2.3" (want bytes or a number with Ki, Mi, Gi, Ti, K, M, G or T, like 512Mi)`},
		{in: "1e3", wantErr: `invalid size "1e3" (want bytes or a number with Ki, Mi, Gi, Ti, K, M, G or T, like 512Mi)`},
		{in: "99999999Ti", wantErr: `size "99999999Ti" out of range`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseSize(tt.in)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("ParseSize(%q) = %d, %v; want error %q", tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseSize(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestSizeString(t *testing.T) {
	tests := []struct {
		in   Size
		want string
	}{
		{0, "0"},
		{1, "1"},
		{1000, "1000"},
		{1024, "1Ki"},
		{1536, "1536"},
		{512 << 20, "512Mi"},
		{3 << 30, "3Gi"},
		{1 << 40, "1Ti"},
		{1_000_000_000, "1000000000"},
	}
	for _, tt := range tests {
		if got := tt.in.String(); got != tt.want {
			t.Errorf("Size(%d).String() = %q, want %q", int64(tt.in), got, tt.want)
		}
		back, err := ParseSize(tt.in.String())
		if err != nil || back != int64(tt.in) {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", tt.in.String(), back, err, int64(tt.in))
		}
	}
}

func TestParseDuration(t *testing.T) {
	const bad = " (want Go syntax like 1m30s, a d suffix like 7d, or seconds)"
	tests := []struct {
		in      string
		want    time.Duration
		wantErr string
	}{
		{in: "1m30s", want: 90 * time.Second},
		{in: "250ms", want: 250 * time.Millisecond},
		{in: "2h", want: 2 * time.Hour},
		{in: "7d", want: 7 * 24 * time.Hour},
		{in: "1d12h", want: 36 * time.Hour},
		{in: "1.5d", want: 36 * time.Hour},
		{in: "1d30m", want: 24*time.Hour + 30*time.Minute},
		{in: "10", want: 10 * time.Second},
		{in: "0.5", want: 500 * time.Millisecond},
		{in: "0", want: 0},
		{in: " 3s ", want: 3 * time.Second},
		{in: "-5s", want: -5 * time.Second},
		{in: "-1d", want: -24 * time.Hour},
		{in: "", wantErr: "empty duration"},
		{in: "d", wantErr: `invalid duration "d"` + bad},
		{in: "7days", wantErr: `invalid duration "7days"` + bad},
		{in: "1x", wantErr: `invalid duration "1x"` + bad},
		{in: "10 minutes", wantErr: `invalid duration "10 minutes"` + bad},
		{in: "1h2d", wantErr: `invalid duration "1h2d"` + bad},
		{in: "2d3d", wantErr: `invalid duration "2d3d"` + bad},
		{in: "1d-2h", wantErr: `invalid duration "1d-2h"` + bad},
		{in: "1e2d", wantErr: `invalid duration "1e2d"` + bad},
		{in: "NaN", wantErr: `duration "NaN" out of range`},
		{in: "1e20", wantErr: `duration "1e20" out of range`},
		{in: "200000d", wantErr: `duration "200000d" out of range`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseDuration(tt.in)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("ParseDuration(%q) = %v, %v; want error %q", tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseDuration(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestDurationString(t *testing.T) {
	tests := []struct {
		in   time.Duration
		want string
	}{
		{0, "0s"},
		{time.Second, "1s"},
		{1500 * time.Millisecond, "1.5s"},
		{5 * time.Minute, "5m"},
		{90 * time.Second, "1m30s"},
		{time.Hour, "1h"},
		{36 * time.Hour, "36h"},
		{7 * 24 * time.Hour, "7d"},
		{-24 * time.Hour, "-24h"},
		{-90 * time.Second, "-1m30s"},
	}
	for _, tt := range tests {
		if got := Duration(tt.in).String(); got != tt.want {
			t.Errorf("Duration(%v).String() = %q, want %q", tt.in, got, tt.want)
		}
		back, err := ParseDuration(Duration(tt.in).String())
		if err != nil || back != tt.in {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", Duration(tt.in).String(), back, err, tt.in)
		}
	}
}

func TestCores(t *testing.T) {
	const bad = " (want cores like 1.5, millicores like 500m, or a percentage like 150%)"
	tests := []struct {
		in      string
		want    float64
		wantErr string
	}{
		{in: "1.5", want: 1.5},
		{in: "2", want: 2},
		{in: "500m", want: 0.5},
		{in: " 250m ", want: 0.25},
		{in: "150%", want: 1.5},
		{in: "50 %", want: 0.5},
		{in: "abc", wantErr: `invalid CPU amount "abc"` + bad},
		{in: "m", wantErr: `invalid CPU amount "m"` + bad},
		{in: "%", wantErr: `invalid CPU amount "%"` + bad},
		{in: "1.5x", wantErr: `invalid CPU amount "1.5x"` + bad},
		{in: "Inf", wantErr: `invalid CPU amount "Inf"` + bad},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			var c Cores
			err := c.parseScalar(tt.in)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("parse %q = %v, %v; want error %q", tt.in, c, err, tt.wantErr)
				}
				return
			}
			if err != nil || float64(c) != tt.want {
				t.Fatalf("parse %q = %v, %v; want %v", tt.in, c, err, tt.want)
			}
		})
	}
}

func TestParseSignal(t *testing.T) {
	tests := []struct {
		in      string
		want    Signal
		num     int
		wantErr string
	}{
		{in: "TERM", want: "TERM", num: 15},
		{in: "SIGTERM", want: "TERM", num: 15},
		{in: "sigterm", want: "TERM", num: 15},
		{in: " hup ", want: "HUP", num: 1},
		{in: "15", want: "TERM", num: 15},
		{in: "9", want: "KILL", num: 9},
		{in: "SIGUSR2", want: "USR2", num: 12},
		{in: "WINCH", want: "WINCH", num: 28},
		{in: "99", wantErr: "unknown signal number 99"},
		{in: "SIGFOO", wantErr: `unknown signal "SIGFOO" (want one of HUP, INT, QUIT, ABRT, KILL, USR1, SEGV, USR2, PIPE, ALRM, TERM, CONT, STOP, TSTP, WINCH)`},
		{in: "", wantErr: `unknown signal "" (want one of HUP, INT, QUIT, ABRT, KILL, USR1, SEGV, USR2, PIPE, ALRM, TERM, CONT, STOP, TSTP, WINCH)`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseSignal(tt.in)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("ParseSignal(%q) = %q, %v; want error %q", tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want || got.Number() != tt.num {
				t.Fatalf("ParseSignal(%q) = %q (%d), %v; want %q (%d)", tt.in, got, got.Number(), err, tt.want, tt.num)
			}
		})
	}
	// Every listed name parses to itself and has a number.
	for _, n := range SignalNames() {
		if s, err := ParseSignal("SIG" + n); err != nil || string(s) != n || s.Number() == 0 {
			t.Errorf("ParseSignal(SIG%s) = %q (%d), %v", n, s, s.Number(), err)
		}
	}
}
