//go:build !linux && !darwin

package api

import (
	"context"
	"net"
)

// ListenUnix is not available here.
func ListenUnix(path, group string, ownDir bool) (net.Listener, listenerInfo, error) {
	return nil, listenerInfo{}, ErrNoUnixAPI
}

// DialUnix is not available here.
func DialUnix(ctx context.Context, path string) (net.Conn, error) { return nil, ErrNoUnixAPI }
