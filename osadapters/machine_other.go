//go:build !linux

package osadapters

import "github.com/hsu-run/hsu/osadapters/platform"

// ThisPlatform is the platform hsu runs on; only Linux's enforcement
// depends on the machine.
func ThisPlatform(string) platform.Platform { return platform.ThisPlatform() }
