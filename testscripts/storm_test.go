//go:build linux

package testscripts

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/hsu-run/hsu/api"
)

// cmdStorm: storm SOCKET WORKER N — sends N concurrent restart, scale,
// stop and start requests for WORKER through the API while counting its
// processes per replica in /proc; fails if a replica ever had two live
// instances.
func cmdStorm(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 3 {
		ts.Fatalf("usage: storm SOCKET WORKER N")
	}
	sock, worker := ts.MkAbs(args[0]), args[1]
	n, err := strconv.Atoi(args[2])
	if err != nil {
		ts.Fatalf("storm: bad count %q", args[2])
	}
	hc := &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{
		MaxConnsPerHost: n,
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return api.DialUnix(ctx, sock)
		},
	}}
	dir := ts.Getenv("WORK")
	stop := make(chan struct{})
	dups := make(chan string, 1)
	var sampler sync.WaitGroup
	sampler.Add(1)
	go func() {
		defer sampler.Done()
		for {
			if d := duplicateReplica(dir, worker); d != "" {
				select {
				case dups <- d:
				default:
				}
			}
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond): // sampling /proc
			}
		}
	}()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			verb, body := "restart", "{}"
			switch i % 4 {
			case 1:
				verb, body = "scale", fmt.Sprintf(`{"replicas":%d}`, 1+i%3)
			case 2:
				verb = "stop"
			case 3:
				verb = "start"
			}
			req, _ := http.NewRequest("POST", "http://hsu/v1/workers/"+worker+"/"+verb, strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			resp, err := hc.Do(req)
			if err != nil {
				errs <- err
				return
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				errs <- fmt.Errorf("%s: status %d", verb, resp.StatusCode)
			}
		}(i)
	}
	wg.Wait()
	// Let the last commands play out while still sampling.
	settle := time.Now().Add(3 * time.Second)
	for time.Now().Before(settle) && len(dups) == 0 {
		time.Sleep(20 * time.Millisecond) // observation window, not synchronisation
	}
	close(stop)
	sampler.Wait()
	close(errs)
	for err := range errs {
		ts.Fatalf("storm: %v", err)
	}
	select {
	case d := <-dups:
		ts.Fatalf("storm: %s", d)
	default:
	}
}

// duplicateReplica names a replica of worker with two live processes
// ("" if none). Its processes are told apart by HSU_REPLICA.
func duplicateReplica(dir, worker string) string {
	seen := map[string]int{}
	for _, pid := range workerPIDs(dir, worker) {
		env, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ")
		if err != nil {
			continue
		}
		for _, kv := range bytes.Split(env, []byte{0}) {
			if r, ok := bytes.CutPrefix(kv, []byte("HSU_REPLICA=")); ok {
				if other, dup := seen[string(r)]; dup {
					return fmt.Sprintf("replica %s of %s has two live instances: pids %d and %d", r, worker, other, pid)
				}
				seen[string(r)] = pid
			}
		}
	}
	return ""
}
