package probe

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/hsu-run/hsu/config"
)

// userAgent is sent unless the probe sets its own User-Agent header.
const userAgent = "hsu-probe/1"

func (r *run) http(p *config.HTTPProbe) error {
	method := strings.ToUpper(p.Method)
	if method == "" {
		method = http.MethodGet
	}
	what := "http " + method + " " + p.URL
	req, err := http.NewRequestWithContext(r.ctx, method, p.URL, nil)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	req.Header.Set("User-Agent", userAgent)
	for k, v := range p.Headers {
		if strings.EqualFold(k, "Host") {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	// A fresh transport per probe: no pooled connection can hide a server
	// that stopped accepting, and nothing is left open afterwards.
	tr := &http.Transport{
		Proxy:             nil, // probes go straight to the instance
		DialContext:       (&net.Dialer{}).DialContext,
		DisableKeepAlives: true,
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{
		Transport: tr,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse // a 3xx passes as is
		},
	}
	resp, err := client.Do(req)
	if err != nil {
		return r.fail(what, unwrapURLError(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 200 && resp.StatusCode < 400 {
		return nil
	}
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
	if s := cleanSnippet(snippet); s != "" {
		return fmt.Errorf("%s: status %d: %s", what, resp.StatusCode, s)
	}
	return fmt.Errorf("%s: status %d", what, resp.StatusCode)
}

// unwrapURLError drops the *url.Error wrapper, which repeats method and URL
// that the probe's own context already names, and a dial's *net.OpError.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) && ue.Err != nil {
		err = ue.Err
	}
	return unwrapOpError(err)
}

// cleanSnippet makes a short printable one-line excerpt of a body.
func cleanSnippet(b []byte) string {
	if !utf8.Valid(b) {
		// Cut a possibly split rune at the end before judging.
		for i := 0; i < utf8.UTFMax && len(b) > 0 && !utf8.Valid(b); i++ {
			b = b[:len(b)-1]
		}
		if !utf8.Valid(b) {
			return ""
		}
	}
	s := strings.Join(strings.Fields(string(b)), " ")
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, s)
}
