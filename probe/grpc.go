package probe

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/hsu-run/hsu/config"
)

// Serving status values of grpc.health.v1.HealthCheckResponse.
const (
	healthUnknown        = 0
	healthServing        = 1
	healthNotServing     = 2
	healthServiceUnknown = 3
)

var healthNames = map[uint64]string{
	healthUnknown:        "UNKNOWN",
	healthServing:        "SERVING",
	healthNotServing:     "NOT_SERVING",
	healthServiceUnknown: "SERVICE_UNKNOWN",
}

// grpcCodes names the gRPC status codes.
var grpcCodes = [...]string{
	"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED",
	"NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED",
	"FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED",
	"INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED",
}

// maxGRPCResponse bounds how much of a response body is read.
const maxGRPCResponse = 64 << 10

func (r *run) grpc(p *config.GRPCProbe, t Target) error {
	addr := p.Address
	if addr == "" {
		addr = t.Listen
	}
	what := "grpc " + addr
	if p.Service != "" {
		what += " service " + strconv.Quote(p.Service)
	}
	if addr == "" {
		return fmt.Errorf("%s: no address (probe has none and the instance has no listen address)", what)
	}

	body := healthCheckRequest(p.Service)
	req, err := http.NewRequestWithContext(r.ctx, http.MethodPost,
		"http://"+addr+"/grpc.health.v1.Health/Check", bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	req.ContentLength = int64(len(body))
	req.Header.Set("Content-Type", "application/grpc")
	req.Header.Set("Te", "trailers")
	req.Header.Set("User-Agent", userAgent)
	if dl, ok := r.ctx.Deadline(); ok {
		req.Header.Set("Grpc-Timeout", grpcTimeout(time.Until(dl)))
	}

	// h2c: HTTP/2 with prior knowledge over cleartext, standard library only.
	var protos http.Protocols
	protos.SetUnencryptedHTTP2(true)
	tr := &http.Transport{
		Proxy:             nil,
		DialContext:       (&net.Dialer{}).DialContext,
		DisableKeepAlives: true,
		Protocols:         &protos,
	}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return r.fail(what, unwrapURLError(err))
	}
	defer resp.Body.Close()
	// Reading to EOF is what makes the trailers available.
	msg, err := io.ReadAll(io.LimitReader(resp.Body, maxGRPCResponse+1))
	if err != nil {
		return r.fail(what, fmt.Errorf("reading response: %w", err))
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: http status %d", what, resp.StatusCode)
	}

	// Trailers-only responses carry the status in the headers.
	st := resp.Trailer.Get("Grpc-Status")
	gmsg := resp.Trailer.Get("Grpc-Message")
	if st == "" {
		st = resp.Header.Get("Grpc-Status")
		gmsg = resp.Header.Get("Grpc-Message")
	}
	if st == "" {
		return fmt.Errorf("%s: no grpc-status in response", what)
	}
	if st != "0" {
		return fmt.Errorf("%s: %s", what, grpcStatusText(st, gmsg))
	}
	if len(msg) > maxGRPCResponse {
		return fmt.Errorf("%s: response larger than %d bytes", what, maxGRPCResponse)
	}
	status, err := parseHealthCheckResponse(msg)
	if err != nil {
		return fmt.Errorf("%s: bad response: %w", what, err)
	}
	if status != healthServing {
		return fmt.Errorf("%s: status %s", what, healthName(status))
	}
	return nil
}

func healthName(s uint64) string {
	if n, ok := healthNames[s]; ok {
		return n
	}
	return strconv.FormatUint(s, 10)
}

func grpcStatusText(code, msg string) string {
	s := "grpc-status " + code
	if n, err := strconv.Atoi(code); err == nil && n >= 0 && n < len(grpcCodes) {
		s += " " + grpcCodes[n]
	}
	if msg != "" {
		// grpc-message is percent-encoded.
		if dec, err := url.PathUnescape(msg); err == nil {
			msg = dec
		}
		s += ": " + msg
	}
	return s
}

// grpcTimeout formats d as a grpc-timeout header value (at most 8 digits).
func grpcTimeout(d time.Duration) string {
	if d <= 0 {
		d = time.Millisecond
	}
	ms := (d + time.Millisecond - 1) / time.Millisecond
	if ms < 1e8 {
		return strconv.FormatInt(int64(ms), 10) + "m"
	}
	return strconv.FormatInt(min(int64(d/time.Second), 1e8-1), 10) + "S"
}

// healthCheckRequest frames HealthCheckRequest{service} as one gRPC message:
// compressed flag 0, 4-byte big-endian length, protobuf bytes.
func healthCheckRequest(service string) []byte {
	var pb []byte
	if service != "" {
		pb = append(pb, 0x0a) // field 1, wire type 2 (length-delimited)
		pb = binary.AppendUvarint(pb, uint64(len(service)))
		pb = append(pb, service...)
	}
	out := make([]byte, 5, 5+len(pb))
	binary.BigEndian.PutUint32(out[1:], uint32(len(pb)))
	return append(out, pb...)
}

// parseHealthCheckResponse reads one framed HealthCheckResponse and returns
// its status (field 1); a missing field is UNKNOWN (0), as in proto3.
func parseHealthCheckResponse(b []byte) (uint64, error) {
	if len(b) < 5 {
		return 0, fmt.Errorf("message frame of %d bytes, want at least 5", len(b))
	}
	if b[0] != 0 {
		return 0, errors.New("compressed message not supported")
	}
	n := binary.BigEndian.Uint32(b[1:5])
	if uint64(n) > uint64(len(b)-5) {
		return 0, fmt.Errorf("message length %d exceeds the %d bytes received", n, len(b)-5)
	}
	pb := b[5 : 5+n]
	var status uint64
	for len(pb) > 0 {
		key, k := binary.Uvarint(pb)
		if k <= 0 {
			return 0, errors.New("bad field key")
		}
		pb = pb[k:]
		field, wire := key>>3, key&7
		switch wire {
		case 0: // varint
			v, k := binary.Uvarint(pb)
			if k <= 0 {
				return 0, errors.New("bad varint")
			}
			pb = pb[k:]
			if field == 1 {
				status = v
			}
		case 1: // 64-bit
			if len(pb) < 8 {
				return 0, errors.New("truncated fixed64")
			}
			pb = pb[8:]
		case 2: // length-delimited
			l, k := binary.Uvarint(pb)
			if k <= 0 || l > uint64(len(pb)-k) {
				return 0, errors.New("bad length-delimited field")
			}
			pb = pb[k+int(l):]
		case 5: // 32-bit
			if len(pb) < 4 {
				return 0, errors.New("truncated fixed32")
			}
			pb = pb[4:]
		default:
			return 0, fmt.Errorf("unsupported wire type %d", wire)
		}
	}
	return status, nil
}
