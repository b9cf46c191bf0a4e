package main

import (
	"encoding/binary"
	"io"
	"net/http"
	"os"
	"strconv"
	"time"
)

// grpcHealth is the gRPC health service's path prefix.
const grpcHealth = "/grpc.health.v1.Health/"

func (h *health) handler() http.Handler {
	mux := http.NewServeMux()
	status := func(w http.ResponseWriter, r *http.Request) {
		up := time.Since(h.start)
		ok := h.healthyAt(up)
		if h.o.logRequests {
			say("testworker: %s %s %s healthy=%v", r.Proto, r.Method, r.URL.Path, ok)
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("X-Testworker-Uptime", up.String())
		if !ok {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = io.WriteString(w, "unhealthy\n")
			return
		}
		_, _ = io.WriteString(w, "ok\n")
	}
	mux.HandleFunc("/healthz", status)
	mux.HandleFunc("/ready", status)
	mux.HandleFunc("/{$}", status)
	if h.o.grpc {
		mux.HandleFunc(grpcHealth, h.grpcHealth)
	}
	return mux
}

// gRPC health service states (grpc.health.v1.HealthCheckResponse).
const (
	serving    = 1
	notServing = 2
)

// grpcHealth answers grpc.health.v1.Health/Check with the standard
// library alone: a unary response is one length-prefixed message followed
// by the grpc-status trailer. Watch and other methods are UNIMPLEMENTED.
func (h *health) grpcHealth(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "gRPC wants POST", http.StatusMethodNotAllowed)
		return
	}
	req, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return
	}
	w.Header().Set("Content-Type", "application/grpc")
	w.Header().Set("Trailer", "Grpc-Status, Grpc-Message")
	if r.URL.Path != grpcHealth+"Check" {
		w.WriteHeader(http.StatusOK)
		w.Header().Set("Grpc-Status", "12") // UNIMPLEMENTED
		w.Header().Set("Grpc-Message", "testworker: only Check is implemented")
		return
	}
	state := byte(serving)
	if !h.healthy() {
		state = notServing
	}
	if h.o.logRequests {
		say("testworker: grpc %s Check service=%q status=%d", r.Proto, checkService(req), state)
	}
	msg := []byte{0x08, state} // field 1 (status), varint
	frame := make([]byte, 5, 5+len(msg))
	binary.BigEndian.PutUint32(frame[1:], uint32(len(msg)))
	frame = append(frame, msg...)
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(frame)
	w.Header().Set("Grpc-Status", "0")
}

// checkService decodes HealthCheckRequest.service from a gRPC request body
// (5-byte prefix, then field 1 as a length-delimited string); "" if absent
// or malformed.
func checkService(body []byte) string {
	if len(body) < 5 {
		return ""
	}
	msg := body[5:]
	for len(msg) > 0 {
		key, n := binary.Uvarint(msg)
		if n <= 0 {
			return ""
		}
		msg = msg[n:]
		switch key & 7 {
		case 0:
			_, n = binary.Uvarint(msg)
			if n <= 0 {
				return ""
			}
			msg = msg[n:]
		case 2:
			l, n := binary.Uvarint(msg)
			if n <= 0 || uint64(len(msg)-n) < l {
				return ""
			}
			v := msg[n : n+int(l)]
			msg = msg[n+int(l):]
			if key>>3 == 1 {
				return string(v)
			}
		case 1:
			if len(msg) < 8 {
				return ""
			}
			msg = msg[8:]
		case 5:
			if len(msg) < 4 {
				return ""
			}
			msg = msg[4:]
		default:
			return ""
		}
	}
	return ""
}

// signalName is "SIGTERM" for syscall.SIGTERM, the number otherwise.
func signalName(sig os.Signal) string {
	for name, s := range signalTable {
		if s == sig {
			return "SIG" + name
		}
	}
	return "signal " + strconv.Quote(sig.String())
}
