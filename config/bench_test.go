package config

import (
	"fmt"
	"strings"
	"testing"
)

// BenchmarkParse100 parses a config of 100 workers, as hsu run does
// before its first spawn (part of a cold start).
func BenchmarkParse100(b *testing.B) {
	var sb strings.Builder
	sb.WriteString("version: 1\nworkers:\n")
	for i := 1; i <= 100; i++ {
		fmt.Fprintf(&sb, "  w%d:\n    shell: \"/bin/sh /opt/ready.sh %d\"\n    restart: {policy: always}\n", i, i)
	}
	src := []byte(sb.String())
	opt := Options{LookupEnv: func(string) (string, bool) { return "", false }}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse("hsu.yaml", src, opt); err != nil {
			b.Fatal(err)
		}
	}
}
