package driver

import (
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/hsu-run/hsu/config"
	"github.com/hsu-run/hsu/engine"
)

// listener returns the socket of an integrated worker's replica, binding
// it (through the OS) the first time or when a reload changed listen.
func (d *Driver) listener(h engine.Handle, spec *config.Worker) (Listener, error) {
	key := ReplicaKey(h)
	l := d.listeners[key]
	if l != nil && !sameListen(spec.Listen, l.Addr()) {
		l.Close() // listen changed by a reload
		delete(d.listeners, key)
		delete(d.addrs, key)
		l = nil
	}
	if l != nil {
		return l, nil
	}
	// The address a previous instance had (possibly one re-adopted from a
	// previous hsu, whose port was ephemeral) is kept if free.
	var err error = fmt.Errorf("no address")
	if a := d.addrs[key]; a != "" && sameListen(spec.Listen, a) {
		l, err = d.os.Listen(a)
	}
	if err != nil {
		if l, err = d.os.Listen(spec.Listen); err != nil {
			return nil, fmt.Errorf("listen %s: %w", spec.Listen, err)
		}
	}
	d.listeners[key] = l
	d.addrs[key] = l.Addr()
	d.dirty = true
	return l, nil
}

// sameListen reports whether a bound address satisfies a listen setting:
// same host, and the same port unless the setting asks for any (0).
func sameListen(want, bound string) bool {
	wh, wp, err1 := net.SplitHostPort(want)
	bh, bp, err2 := net.SplitHostPort(bound)
	if err1 != nil || err2 != nil {
		return false
	}
	sameHost := wh == bh || (wh == "" && (bh == "::" || bh == "0.0.0.0")) ||
		(wh == "localhost" && (bh == "127.0.0.1" || bh == "::1"))
	return sameHost && (wp == "0" || wp == bp)
}

// closeUnwantedListeners closes the sockets, and forgets the addresses,
// of replicas that no longer exist (worker removed or scaled down, or no
// longer integrated).
func (d *Driver) closeUnwantedListeners() {
	for key := range d.addrs { // order-free: each is judged alone
		i := strings.LastIndexByte(key, '-')
		worker := key[:i]
		replica, _ := strconv.Atoi(key[i+1:])
		spec := d.eng.Spec(worker)
		if spec == nil || spec.Type != config.TypeIntegrated || replica > d.eng.Desired(worker) {
			if l := d.listeners[key]; l != nil {
				l.Close()
				delete(d.listeners, key)
			}
			delete(d.addrs, key)
			d.dirty = true
		}
	}
}
