package api

import (
	"net"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

func peerCred(c *net.UnixConn) (cred, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return cred{}, err
	}
	var uc *unix.Ucred
	var serr error
	if err := raw.Control(func(fd uintptr) {
		uc, serr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return cred{}, err
	}
	if serr != nil {
		return cred{}, serr
	}
	cr := cred{uid: int(uc.Uid), gid: int(uc.Gid), pid: int(uc.Pid)}
	// Supplementary groups: the peer's, read from /proc at connect time.
	if b, err := os.ReadFile("/proc/" + strconv.Itoa(cr.pid) + "/status"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if rest, ok := strings.CutPrefix(line, "Groups:"); ok {
				for _, f := range strings.Fields(rest) {
					if g, err := strconv.Atoi(f); err == nil {
						cr.groups = append(cr.groups, g)
					}
				}
			}
		}
	}
	return cr, nil
}

// shortDirPath names an open directory by its descriptor.
func shortDirPath(d *os.File) string { return "/proc/self/fd/" + strconv.Itoa(int(d.Fd())) }
