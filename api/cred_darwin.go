package api

import (
	"net"
	"os"

	"golang.org/x/sys/unix"
)

func peerCred(c *net.UnixConn) (cred, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return cred{}, err
	}
	var xu *unix.Xucred
	var pid int
	var serr error
	if err := raw.Control(func(fd uintptr) {
		xu, serr = unix.GetsockoptXucred(int(fd), unix.SOL_LOCAL, unix.LOCAL_PEERCRED)
		if serr == nil {
			pid, _ = unix.GetsockoptInt(int(fd), unix.SOL_LOCAL, unix.LOCAL_PEERPID)
		}
	}); err != nil {
		return cred{}, err
	}
	if serr != nil {
		return cred{}, serr
	}
	cr := cred{uid: int(xu.Uid), gid: -1, pid: pid}
	for i := 0; i < int(xu.Ngroups) && i < len(xu.Groups); i++ {
		cr.groups = append(cr.groups, int(xu.Groups[i]))
	}
	return cr, nil
}

// shortDirPath: macOS has no /proc/self/fd path for binding.
func shortDirPath(*os.File) string { return "" }
