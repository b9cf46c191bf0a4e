//go:build linux || darwin

package api

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
)

// maxSunPath is the longest socket path the kernel takes (sun_path less
// its terminating NUL).
const maxSunPath = 103

// ListenUnix binds the API socket at path (its directory is the state
// dir). The socket is created under a umask so it is never wider than
// 0600 (0660 with group), even for an instant; the directory is made 0700
// (0750 with group). Callers are identified by their credentials: hsu's
// own uid and root may do everything, members of group may only read,
// anyone else is refused.
//
// ownDir says the directory is hsu's own (the state dir, locked by this
// hsu): only then are its mode and group set. A --socket elsewhere must be
// in a directory that only its owner can write to already.
func ListenUnix(path, group string, ownDir bool) (net.Listener, listenerInfo, error) {
	dir := filepath.Dir(path)
	gid := -1
	dirMode, sockMask := os.FileMode(0o700), 0o177
	if group != "" {
		g, err := lookupGroup(group)
		if err != nil {
			return nil, listenerInfo{}, err
		}
		gid, dirMode, sockMask = g, 0o750, 0o117
	}
	if ownDir {
		if err := os.Chmod(dir, dirMode); err != nil {
			return nil, listenerInfo{}, fmt.Errorf("api socket dir: %w", err)
		}
		if gid >= 0 {
			if err := os.Chown(dir, -1, gid); err != nil {
				return nil, listenerInfo{}, fmt.Errorf("api socket dir: group %s: %w", group, err)
			}
		}
	} else if fi, err := os.Stat(dir); err != nil {
		return nil, listenerInfo{}, fmt.Errorf("api socket dir: %w", err)
	} else if fi.Mode().Perm()&0o022 != 0 && fi.Mode()&os.ModeSticky == 0 {
		return nil, listenerInfo{}, fmt.Errorf("api socket dir %s is writable by others (mode %04o): anyone could replace the socket; use a private directory", dir, fi.Mode().Perm())
	}
	// A socket left there is a dead hsu's (the state dir is locked by
	// this one); anything that is not a socket is not ours to remove.
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return nil, listenerInfo{}, fmt.Errorf("api socket %s: a file that is not a socket is in the way", path)
		}
		if !ownDir {
			if c, err := net.Dial("unix", path); err == nil {
				c.Close()
				return nil, listenerInfo{}, fmt.Errorf("api socket %s is in use by another server", path)
			}
		}
		os.Remove(path)
	}
	addr := path
	if len(path) > maxSunPath {
		// Too long for sockaddr_un: bind through a descriptor of the dir.
		d, err := os.Open(dir)
		if err != nil {
			return nil, listenerInfo{}, fmt.Errorf("api socket: %w", err)
		}
		defer d.Close()
		addr = shortDirPath(d) + "/" + filepath.Base(path)
		if len(addr) > maxSunPath || shortDirPath(d) == "" {
			return nil, listenerInfo{}, fmt.Errorf("api socket %s: the path is %d bytes, over the %d a Unix socket address holds: use a shorter --state-dir or --socket", path, len(path), maxSunPath)
		}
	}
	old := syscall.Umask(sockMask)
	l, err := net.Listen("unix", addr)
	syscall.Umask(old)
	if err != nil {
		return nil, listenerInfo{}, fmt.Errorf("api socket %s: %w", path, err)
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	if gid >= 0 {
		if err := os.Chown(path, -1, gid); err != nil {
			l.Close()
			return nil, listenerInfo{}, fmt.Errorf("api socket: group %s: %w", group, err)
		}
	}
	own := os.Getuid()
	ul := &unlinkListener{Listener: l, path: path}
	return ul, listenerInfo{connContext: func(ctx context.Context, c net.Conn) context.Context {
		uc, ok := c.(*net.UnixConn)
		if !ok {
			return ctx
		}
		cr, err := peerCred(uc)
		if err != nil {
			return ctx // no peer: refused
		}
		p := &peer{who: "uid " + strconv.Itoa(cr.uid) + " pid " + strconv.Itoa(cr.pid)}
		switch {
		case cr.uid == own || cr.uid == 0:
		case gid >= 0 && cr.inGroup(gid):
			p.readOnly = true
		default:
			return ctx
		}
		return context.WithValue(ctx, peerKey{}, p)
	}}, nil
}

// unlinkListener removes the socket file when closed (the path it was
// bound by may be a /proc/self/fd one that is gone by then).
type unlinkListener struct {
	net.Listener
	path string
}

func (l *unlinkListener) Close() error {
	err := l.Listener.Close()
	os.Remove(l.path)
	return err
}

func lookupGroup(name string) (int, error) {
	g, err := user.LookupGroup(name)
	if err != nil {
		if id, perr := strconv.Atoi(name); perr == nil {
			return id, nil
		}
		return -1, fmt.Errorf("api group %q: %w", name, err)
	}
	id, err := strconv.Atoi(g.Gid)
	if err != nil {
		return -1, fmt.Errorf("api group %q: gid %q", name, g.Gid)
	}
	return id, nil
}

type cred struct {
	uid, gid, pid int
	groups        []int
}

func (c cred) inGroup(gid int) bool {
	if c.gid == gid {
		return true
	}
	for _, g := range c.groups {
		if g == gid {
			return true
		}
	}
	return false
}

// DialUnix connects to the socket at path, also where the path is too long
// for a socket address.
func DialUnix(ctx context.Context, path string) (net.Conn, error) {
	var d net.Dialer
	if len(path) <= maxSunPath {
		return d.DialContext(ctx, "unix", path)
	}
	dir, err := os.Open(filepath.Dir(path))
	if err != nil {
		return nil, err
	}
	defer dir.Close()
	return d.DialContext(ctx, "unix", shortDirPath(dir)+"/"+filepath.Base(path))
}
