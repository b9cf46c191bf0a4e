package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/hsu-run/hsu/api"
	"github.com/hsu-run/hsu/osadapters"
)

// Client exit codes (DESIGN.md §6).
const (
	exitNotRunning    = 3  // status: a named worker is not running
	exitUnknownWorker = 4  // a worker that does not exist
	exitNoServer      = 69 // EX_UNAVAILABLE: nothing answers on the socket
)

// client talks to a running hsu.
type client struct {
	socket string
	base   string // http://hsu or https://HOST:PORT
	token  string
	hc     *http.Client
	errOut io.Writer
	verb   string
}

// clientFlags are the flags every client verb has.
type clientFlags struct {
	socket, stateDir, api string
}

func (c *clientFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&c.socket, "socket", "", "the API socket (default: $HSU_SOCKET, else hsu.sock in the state dir)")
	fs.StringVar(&c.stateDir, "state-dir", "", "the state dir of the hsu to talk to (default: the default state dir)")
	fs.StringVar(&c.api, "api", "", "talk to a TCP API instead: http(s)://HOST:PORT (token from $HSU_API_TOKEN)")
}

// socketPath finds the server: --socket, then HSU_SOCKET, then
// --state-dir, then the default state dir.
func (c *clientFlags) socketPath() string {
	switch {
	case c.socket != "":
		return c.socket
	case os.Getenv("HSU_SOCKET") != "":
		return os.Getenv("HSU_SOCKET")
	case c.stateDir != "":
		return filepath.Join(c.stateDir, "hsu.sock")
	}
	return filepath.Join(osadapters.DefaultStateDir(), "hsu.sock")
}

func (c *clientFlags) client(verb string, errOut io.Writer) *client {
	cl := &client{errOut: errOut, verb: verb}
	if c.api != "" {
		cl.base = strings.TrimRight(strings.Replace(c.api, "tcp://", "http://", 1), "/")
		cl.socket = c.api
		cl.token = os.Getenv("HSU_API_TOKEN")
		cl.hc = &http.Client{}
		return cl
	}
	cl.socket = c.socketPath()
	cl.base = "http://hsu"
	sock := cl.socket
	cl.hc = &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) { return api.DialUnix(ctx, sock) },
	}}
	return cl
}

// apiError is an answer other than 2xx.
type apiError struct {
	status int
	msg    string
	code   string
}

func (e *apiError) Error() string { return e.msg }

// errNoServer: nothing answers.
type errNoServer struct {
	socket string
	err    error
}

func (e *errNoServer) Error() string {
	return fmt.Sprintf("no hsu answers at %s (%v): is `hsu run` running? Point to it with --socket, HSU_SOCKET or --state-dir", e.socket, e.err)
}

func (c *client) do(ctx context.Context, method, path string, body any, out any) error {
	resp, err := c.request(ctx, method, path, body, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("reading the reply: %w", err)
	}
	if resp.StatusCode/100 != 2 {
		var eb struct {
			Error   string `json:"error"`
			Code    string `json:"code"`
			Results []struct {
				Error string `json:"error"`
				Code  string `json:"code"`
			} `json:"results"`
		}
		json.Unmarshal(b, &eb)
		msg := eb.Error
		for _, r := range eb.Results {
			if r.Error != "" {
				msg = strings.TrimPrefix(msg+"\n"+r.Error, "\n")
				if eb.Code == "" {
					eb.Code = r.Code
				}
			}
		}
		if msg == "" {
			msg = resp.Status
		}
		if out != nil && len(eb.Results) > 0 {
			json.Unmarshal(b, out)
		}
		return &apiError{status: resp.StatusCode, msg: msg, code: eb.Code}
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("bad reply from hsu: %w", err)
		}
	}
	return nil
}

func (c *client) request(ctx context.Context, method, path string, body any, hdr http.Header) (*http.Response, error) {
	var rd io.Reader
	if method != http.MethodGet {
		b := []byte("{}")
		if body != nil {
			var err error
			if b, err = json.Marshal(body); err != nil {
				return nil, err
			}
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, err
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, &errNoServer{c.socket, unwrapNet(err)}
	}
	return resp, nil
}

func unwrapNet(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		return oe.Err
	}
	return err
}

// fail prints err and returns its exit code.
func (c *client) fail(err error) int {
	fmt.Fprintf(c.errOut, "hsu %s: %v\n", c.verb, err)
	var ns *errNoServer
	var ae *apiError
	switch {
	case errors.As(err, &ns):
		return exitNoServer
	case errors.As(err, &ae) && ae.status == http.StatusNotFound && ae.code == "not_found":
		return exitUnknownWorker
	}
	return exitFailure
}

func (c *client) status(ctx context.Context, names []string) (*api.StatusView, error) {
	path := "/v1/workers"
	if len(names) > 0 {
		path += "?names=" + url.QueryEscape(strings.Join(names, ","))
	}
	var st api.StatusView
	if err := c.do(ctx, http.MethodGet, path, nil, &st); err != nil {
		return nil, err
	}
	return &st, nil
}

// checkNames returns an apiError 404 for a name the status lacks.
func checkNames(st *api.StatusView, names []string) error {
	have := map[string]bool{}
	for _, w := range st.Workers {
		have[w.Name] = true
	}
	for _, n := range names {
		if n != "all" && !have[n] {
			return &apiError{status: http.StatusNotFound, msg: fmt.Sprintf("unknown worker %q", n), code: "not_found"}
		}
	}
	return nil
}

// timeoutFlag gives the context of a command's wait.
func withTimeout(d time.Duration) (context.Context, context.CancelFunc) {
	if d <= 0 {
		return context.WithCancel(context.Background())
	}
	return context.WithTimeout(context.Background(), d)
}
