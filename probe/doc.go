// Package probe runs health checks against the real OS.
//
// The engine emits an ActProbe action; the driver calls Run in a goroutine
// and feeds the result back as an EvProbe event. Run performs one attempt,
// bounded by the probe's Timeout (1s when unset), and returns nil when it
// passes or an error saying why it failed, prefixed with what was checked,
// e.g. "http GET http://127.0.0.1:8080/healthz: status 503". An attempt cut
// short by the timeout returns an error wrapping ErrTimeout; one cut short by
// the caller's context wraps that context's error. Thresholds, periods and
// initial delays are the engine's business, not this package's.
//
// Kinds and their rules:
//
// http: sends Method (GET, HEAD or POST; default GET) to URL with Headers
// (a "Host" header sets the request's host). A status from 200 to 399
// passes; anything else fails and the error quotes the status and the start
// of the body. Redirects are not followed: a 3xx passes as is. Every attempt
// uses a new connection (no keep-alive pool), so a server that stopped
// accepting or hangs is noticed rather than hidden by a pooled connection.
// https URLs are verified against the system roots as usual. Proxy
// environment variables are ignored: probes go straight to the instance.
//
// tcp: passes when a TCP connection to Address opens within the timeout; the
// connection is closed at once.
//
// grpc: calls grpc.health.v1.Health/Check over h2c (HTTP/2 with prior
// knowledge, cleartext), using only the standard library. Address defaults
// to Target.Listen, the socket hsu bound for an integrated worker. Service
// is sent in the HealthCheckRequest (empty checks the server as a whole). It
// passes when the call succeeds (grpc-status 0, read from the trailers or,
// for a trailers-only response, the headers) and the response's status is
// SERVING; NOT_SERVING, SERVICE_UNKNOWN, UNKNOWN, a non-zero grpc-status
// (quoted with its grpc-message), a non-200 HTTP status or a malformed
// response fail. TLS is not supported.
//
// exec: runs Command (argv, no shell) with Target.Env (nil inherits hsu's
// environment) in Target.Dir. Exit status 0 passes; any other exit, a
// signal, or a command that cannot start fails, and the error quotes the
// last few hundred bytes of its combined stdout and stderr. The command runs
// as the leader of its own process group (a Job Object on Windows); on
// timeout the whole group is killed (SIGKILL to the group) and the error
// reports the timeout. If something the command started keeps its output
// open after it exits, Run waits at most a short grace period, then kills
// the group and closes the pipes, so a background grandchild can neither
// hang the probe nor outlive it. A command that exits 0 while such a
// grandchild still holds the output passes. Processes that leave the group
// themselves (setsid, or double forks with their own group) are not chased;
// that is the instance's cgroup's job.
//
// process: passes while Target.PID is alive. On Unix it sends signal 0
// (success or EPERM mean alive, ESRCH means gone); on Linux a zombie (state
// Z in /proc/PID/stat: exited but not yet reaped) fails too. On Windows it
// opens the process and passes while GetExitCodeProcess reports STILL_ACTIVE
// and the process handle is not signalled.
package probe
