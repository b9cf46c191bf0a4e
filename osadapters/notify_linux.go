package osadapters

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"net"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/hsu-run/hsu/engine"
)

// notifySock is a notify worker's own NOTIFY_SOCKET: an abstract unixgram
// socket (no file, so a worker running as another user reaches it through
// hsu's 0700 state dir), which takes datagrams only from processes of its
// instance, checked by the sender's credentials (SO_PASSCRED).
type notifySock struct {
	c    *net.UnixConn
	name string // "@..." as the worker sees it
}

var notifyRun = func() string {
	var b [6]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}()

func openNotify(h engine.Handle) (*notifySock, error) {
	// Random per instance: a worker sees its own name, and must not be
	// able to take the next instance's in advance.
	var r [8]byte
	rand.Read(r[:])
	name := "hsu-" + notifyRun + "-" + strconv.FormatUint(h.Gen, 10) + "-" + hex.EncodeToString(r[:])
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: "\x00" + name, Net: "unixgram"})
	if err != nil {
		return nil, err
	}
	raw, err := c.SyscallConn()
	if err == nil {
		var serr error
		err = raw.Control(func(fd uintptr) { serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_PASSCRED, 1) })
		if err == nil {
			err = serr
		}
	}
	if err != nil {
		c.Close()
		return nil, err
	}
	return &notifySock{c: c, name: "@" + name}, nil
}

func (n *notifySock) close() { n.c.Close() }

// serve reads datagrams until the socket is closed, and posts what the
// instance (leader and the processes of its group or cgroup) said.
func (n *notifySock) serve(w *World, h engine.Handle, leader int) {
	buf := make([]byte, 4096)
	oob := make([]byte, unix.CmsgSpace(unix.SizeofUcred))
	for {
		k, oobn, _, _, err := n.c.ReadMsgUnix(buf, oob)
		if err != nil {
			return
		}
		pid := senderPID(oob[:oobn])
		if pid <= 0 || !sameInstance(pid, leader) {
			w.log.Debug("notify datagram from outside the instance ignored", "instance", instKey(h), "pid", pid)
			continue
		}
		if msg, ok := parseNotify(buf[:k]); ok {
			w.Post(engine.Event{Kind: engine.EvNotify, H: h, Notify: msg})
		}
	}
}

func senderPID(oob []byte) int {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return 0
	}
	for i := range msgs {
		if cr, err := unix.ParseUnixCredentials(&msgs[i]); err == nil {
			return int(cr.Pid)
		}
	}
	return 0
}

// sameInstance: pid is the leader, or in its cgroup where the instance
// has one (a process cannot leave it on its own); without cgroups, in its
// process group (weaker: a process of another worker in hsu's session
// could join that group on purpose).
func sameInstance(pid, leader int) bool {
	if pid == leader {
		return true
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(leader) + "/cgroup")
	if err == nil && bytes.Contains(b, []byte("/hsu/")) {
		a, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cgroup")
		return err == nil && bytes.Equal(a, b)
	}
	pg, err := unix.Getpgid(pid)
	return err == nil && pg == leader
}

// parseNotify reads READY=1, WATCHDOG=1 and STATUS=; MAINPID= and the
// rest are ignored (hsu knows its instance's leader).
func parseNotify(b []byte) (engine.Notification, bool) {
	var n engine.Notification
	any := false
	for _, line := range strings.Split(string(b), "\n") {
		k, v, _ := strings.Cut(line, "=")
		switch k {
		case "READY":
			n.Ready, any = v == "1", any || v == "1"
		case "WATCHDOG":
			n.Watchdog, any = v == "1", any || v == "1"
		case "STATUS":
			n.Status, n.HasStatus, any = v, true, true
		}
	}
	return n, any
}
