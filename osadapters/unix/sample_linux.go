//go:build linux

package unix

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hsu-run/hsu/engine"
)

// Sampling reads an instance's cgroup where it has one: its counters are
// the kernel's own, cumulative and flat in cost however many processes
// the instance has, and a forking worker's shared pages count once. The
// files stay open from the first sample to the instance's exit and are
// read with pread, so a sample of 1000 instances is a few reads each and
// no open, close or path lookup (docs/BENCHMARKS.md, "sampling").
//
// What no cgroup of the instance has comes from /proc: the memory of an
// instance without a memory cgroup (hybrid hosts make one only for a
// memory limit), its open descriptors, and its I/O where no io or blkio
// cgroup counts it; without cgroups, everything.
type instFiles struct {
	leader int
	// cgroup2 (-1 when absent)
	cpuStat, procs               int
	memCurrent, memStat, memEvts int
	pidsCurrent, ioStat          int
	// pids.events (either version; only with a pids limit), for the forks
	// the kernel refused
	pidsEvts int
	// cgroup v1 (-1 when absent)
	v1MemUsage, v1MemStat, v1OOM int
	v1Pids, v1Blkio              int
	// the leader's /proc files (-1 when absent)
	stat, pio, fdDir int
	// statm and task: the leader's resident set and threads, cheaper
	// than stat where the CPU comes from the cgroup (-1 when absent)
	statm, taskDir int

	source string
	kernel engine.Enforced
	// the previous CPU reading, for the average since it
	prevCPU float64
	prevAt  time.Time
}

func (f *instFiles) close() {
	for _, fd := range []int{f.cpuStat, f.procs, f.memCurrent, f.memStat, f.memEvts, f.pidsCurrent, f.ioStat, f.pidsEvts,
		f.v1MemUsage, f.v1MemStat, f.v1OOM, f.v1Pids, f.v1Blkio, f.stat, f.pio, f.fdDir, f.statm, f.taskDir} {
		if fd >= 0 {
			unix.Close(fd)
		}
	}
}

func openRO(path string) int {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1
	}
	return fd
}

// openInstFiles opens what the instance is sampled through, and tells
// from its limit files which limits the kernel enforces.
func (u *Unix) openInstFiles(h engine.Handle, p Proc) *instFiles {
	f := &instFiles{leader: p.PID, cpuStat: -1, procs: -1, memCurrent: -1, memStat: -1, memEvts: -1,
		pidsCurrent: -1, ioStat: -1, pidsEvts: -1, v1MemUsage: -1, v1MemStat: -1, v1OOM: -1, v1Pids: -1, v1Blkio: -1}
	proc := "/proc/" + strconv.Itoa(p.PID)
	f.stat, f.pio = openRO(proc+"/stat"), openRO(proc+"/io")
	f.statm, f.taskDir = openRO(proc+"/statm"), -1
	if fd, err := unixOpenDir(proc + "/task"); err == nil {
		f.taskDir = fd
	}
	f.fdDir, _ = unixOpenDir(proc + "/fd")
	f.source = "proc"
	c := u.cg
	if c == nil {
		return f
	}
	dir := c.dir(h)
	if f.procs = openRO(filepath.Join(dir, "cgroup.procs")); f.procs < 0 {
		return f // not in a cgroup of its own (an unmanaged worker's process)
	}
	f.cpuStat = openRO(filepath.Join(dir, "cpu.stat"))
	if c.v2["memory"] {
		f.memCurrent = openRO(filepath.Join(dir, "memory.current"))
		f.memStat = openRO(filepath.Join(dir, "memory.stat"))
		f.memEvts = openRO(filepath.Join(dir, "memory.events"))
		if f.memCurrent >= 0 {
			f.source = "cgroup2"
		}
		if limited(filepath.Join(dir, "memory.max")) || limited(filepath.Join(dir, "memory.high")) {
			f.kernel |= engine.EnforcedMemory
		}
	}
	if c.v2["pids"] {
		f.pidsCurrent = openRO(filepath.Join(dir, "pids.current"))
		if limited(filepath.Join(dir, "pids.max")) {
			f.kernel |= engine.EnforcedPids
			f.pidsEvts = openRO(filepath.Join(dir, "pids.events"))
		}
	}
	if c.v2["cpu"] && !strings.HasPrefix(readSmall(filepath.Join(dir, "cpu.max")), "max") {
		f.kernel |= engine.EnforcedCPU
	}
	if c.v2["io"] {
		f.ioStat = openRO(filepath.Join(dir, "io.stat"))
		if strings.TrimSpace(readSmall(filepath.Join(dir, "io.max"))) != "" {
			f.kernel |= engine.EnforcedIO
		}
	}
	// The v1 cgroups it was given for its limits (hybrid hosts).
	for _, d := range c.v1DirsOf(h, true) {
		switch {
		case c.v1["memory"] != "" && strings.HasPrefix(d, c.v1["memory"]+"/"):
			f.v1MemUsage = openRO(filepath.Join(d, "memory.usage_in_bytes"))
			f.v1MemStat = openRO(filepath.Join(d, "memory.stat"))
			f.v1OOM = openRO(filepath.Join(d, "memory.oom_control"))
			if f.v1MemUsage >= 0 {
				f.source = "cgroup1"
				f.kernel |= engine.EnforcedMemory
			}
		case c.v1["pids"] != "" && strings.HasPrefix(d, c.v1["pids"]+"/"):
			f.v1Pids = openRO(filepath.Join(d, "pids.current"))
			f.pidsEvts = openRO(filepath.Join(d, "pids.events"))
			f.kernel |= engine.EnforcedPids
		case c.v1["cpu"] != "" && strings.HasPrefix(d, c.v1["cpu"]+"/"):
			f.kernel |= engine.EnforcedCPU
		case c.v1["io"] != "" && strings.HasPrefix(d, c.v1["io"]+"/"):
			f.v1Blkio = openRO(filepath.Join(d, "blkio.throttle.io_service_bytes"))
			f.kernel |= engine.EnforcedIO
		}
	}
	if f.source == "proc" && f.cpuStat >= 0 {
		f.source = "cgroup2+proc" // CPU and tasks from the cgroup, memory from /proc
	}
	return f
}

// limited reports whether a cgroup limit file holds a limit ("max" is none).
func limited(path string) bool {
	v := strings.TrimSpace(readSmall(path))
	return v != "" && v != "max"
}

func readSmall(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return string(b)
}

// pread reads a whole small file from offset 0 into buf. The kernel
// generates a cgroup or /proc file whole, and fills the buffer as far as
// the content goes: a short read is the end, and asking again (for the 0
// of end of file) would double the cost of every sample.
func pread(fd int, buf []byte) ([]byte, error) {
	n := 0
	for n < len(buf) {
		k, err := unix.Pread(fd, buf[n:], int64(n))
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, err
		}
		n += k
		if k == 0 || n < len(buf) {
			break
		}
	}
	return buf[:n], nil
}

// keyInt finds "key value" in a flat-keyed file (memory.stat, cpu.stat,
// memory.events) and returns value (0 if absent).
func keyInt(b []byte, key string) int64 {
	for len(b) > 0 {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		if len(line) > len(key) && line[len(key)] == ' ' && string(line[:len(key)]) == key {
			return fieldInt(line[len(key)+1:], 0)
		}
	}
	return 0
}

// ioStatBytes sums rbytes= and wbytes= over the devices of a cgroup2
// io.stat ("8:0 rbytes=1 wbytes=2 rios=3 ...").
func ioStatBytes(b []byte) (r, w int64) {
	for _, f := range bytes.Fields(b) {
		if v, ok := bytes.CutPrefix(f, []byte("rbytes=")); ok {
			r += fieldInt(v, 0)
		} else if v, ok := bytes.CutPrefix(f, []byte("wbytes=")); ok {
			w += fieldInt(v, 0)
		}
	}
	return r, w
}

// blkioBytes sums the Read and Write lines of a v1
// blkio.throttle.io_service_bytes ("8:0 Read 4096").
func blkioBytes(b []byte) (r, w int64) {
	for len(b) > 0 {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		f := bytes.Fields(line)
		if len(f) != 3 {
			continue
		}
		switch string(f[1]) {
		case "Read":
			r += fieldInt(f[2], 0)
		case "Write":
			w += fieldInt(f[2], 0)
		}
	}
	return r, w
}

// countLines counts the non-empty lines of b (cgroup.procs, cgroup.threads).
func countLines(b []byte) int {
	n := bytes.Count(b, []byte{'\n'})
	if len(b) > 0 && b[len(b)-1] != '\n' {
		n++
	}
	return n
}

// countFDs counts the open descriptors of a process from its open
// /proc/PID/fd: Linux 6.2 and later give the count as the directory's
// size, one fstat; older kernels (size 0) have it listed.
func countFDs(fd int, buf []byte) int {
	var st unix.Stat_t
	if unix.Fstat(fd, &st) == nil && st.Size > 0 {
		return int(st.Size)
	}
	return countDirents(fd, buf)
}

// countDirents counts a directory's entries other than . and .., read
// again from its start.
func countDirents(fd int, buf []byte) int {
	if _, err := unix.Seek(fd, 0, 0); err != nil {
		return 0
	}
	total := 0
	for {
		n, err := unix.Getdents(fd, buf)
		if err != nil || n <= 0 {
			return total
		}
		for off := 0; off+19 <= n; {
			reclen := int(buf[off+16]) | int(buf[off+17])<<8
			if reclen == 0 {
				break
			}
			name := buf[off+19 : off+reclen]
			if !(name[0] == '.' && (name[1] == 0 || name[1] == '.' && name[2] == 0)) {
				total++
			}
			off += reclen
		}
	}
}

// Sample measures the instance: from its cgroup where it has one, else
// from /proc (see instFiles).
func (u *Unix) Sample(h engine.Handle, p Proc) (engine.Usage, error) {
	u.sampleMu.Lock()
	defer u.sampleMu.Unlock()
	if u.smp.files == nil {
		u.smp.files = map[engine.Handle]*instFiles{}
	}
	f := u.smp.files[h]
	if f == nil || f.leader != p.PID {
		if f != nil {
			f.close()
		}
		f = u.openInstFiles(h, p)
		u.smp.files[h] = f
	}
	buf := u.sampleBuf[:]
	us := engine.Usage{Source: f.source, Kernel: f.kernel}
	var pids []int
	if f.procs >= 0 {
		b, err := pread(f.procs, buf)
		if err != nil {
			return engine.Usage{}, fmt.Errorf("sample %s: %w", instKey(h), err)
		}
		pids = parsePIDs(b, u.smp.pidBuf[:0])
		u.smp.pidBuf = pids
	} else {
		pids = u.groupMembers(p.PID)
	}
	if len(pids) == 0 {
		return engine.Usage{}, fmt.Errorf("sample %s: no process", instKey(h))
	}
	// CPU: the cgroup's cumulative usage, else the processes' own time
	// plus that of the children they reaped (so a child's exit does not
	// take its CPU time out of the count).
	cpuFromProc := true
	if f.cpuStat >= 0 {
		if b, err := pread(f.cpuStat, buf); err == nil {
			us.CPUSeconds = float64(keyInt(b, "usage_usec")) / 1e6
			cpuFromProc = false
		}
	}
	memFromProc := true
	switch {
	case f.memCurrent >= 0:
		cur, stat, evts := f.memCurrent, f.memStat, f.memEvts
		if b, err := pread(cur, buf); err == nil {
			us.Memory = fieldInt(b, 0)
			memFromProc = false
		}
		if b, err := pread(stat, buf); err == nil {
			us.MemoryAnon, us.MemoryFile = keyInt(b, "anon"), keyInt(b, "file")
			us.Memory = max(us.Memory-keyInt(b, "inactive_file"), 0)
		}
		if b, err := pread(evts, buf); err == nil {
			us.MemoryHigh, us.OOMKills = keyInt(b, "high"), keyInt(b, "oom_kill")
		}
	case f.v1MemUsage >= 0:
		if b, err := pread(f.v1MemUsage, buf); err == nil {
			us.Memory = fieldInt(b, 0)
			memFromProc = false
		}
		if b, err := pread(f.v1MemStat, buf); err == nil {
			us.MemoryAnon, us.MemoryFile = keyInt(b, "total_rss"), keyInt(b, "total_cache")
			us.Memory = max(us.Memory-keyInt(b, "total_inactive_file"), 0)
		}
		if b, err := pread(f.v1OOM, buf); err == nil {
			us.OOMKills = keyInt(b, "oom_kill")
		}
	}
	switch {
	case f.pidsCurrent >= 0:
		if b, err := pread(f.pidsCurrent, buf); err == nil {
			us.Pids = int(fieldInt(b, 0))
		}
	case f.v1Pids >= 0:
		if b, err := pread(f.v1Pids, buf); err == nil {
			us.Pids = int(fieldInt(b, 0))
		}
	}
	if f.pidsEvts >= 0 {
		if b, err := pread(f.pidsEvts, buf); err == nil {
			us.PidsRefused = keyInt(b, "max")
		}
	}
	pidsFromProc := f.pidsCurrent < 0 && f.v1Pids < 0
	ioFromProc := true
	switch {
	case f.ioStat >= 0:
		if b, err := pread(f.ioStat, buf); err == nil {
			us.IORead, us.IOWrite = ioStatBytes(b)
			ioFromProc = false
		}
	case f.v1Blkio >= 0:
		if b, err := pread(f.v1Blkio, buf); err == nil {
			us.IORead, us.IOWrite = blkioBytes(b)
			ioFromProc = false
		}
	}
	var ticks int64
	multi := len(pids) > 1
	for _, pid := range pids {
		leader := pid == f.leader
		dir := ""
		if !leader {
			dir = "/proc/" + strconv.Itoa(pid)
		}
		// Where the CPU comes from the cgroup, the leader's resident set is
		// statm's and its threads are its task dir's links (1 µs and 0.5
		// µs here, against 3 µs for stat).
		if leader && !cpuFromProc && f.statm >= 0 && f.taskDir >= 0 {
			if memFromProc && !multi {
				if b, err := pread(f.statm, buf); err == nil {
					us.Memory += fieldInt(b, 1) * int64(os.Getpagesize())
				}
			}
			if pidsFromProc {
				var st unix.Stat_t
				if unix.Fstat(f.taskDir, &st) == nil && st.Nlink > 2 {
					us.Pids += int(st.Nlink) - 2 // "." and ".."
				}
			}
		} else if memFromProc || pidsFromProc || cpuFromProc {
			// One read of /proc/PID/stat gives the resident set, the
			// threads and the CPU time: utime, stime, cutime, cstime
			// (fields 14-17), num_threads (20), rss (24).
			if b, err := u.readProc(f.stat, leader, dir, pid, "/stat", buf); err == nil {
				if i := bytes.LastIndexByte(b, ')'); i >= 0 {
					st := b[i+1:]
					ticks += fieldInt(st, 11) + fieldInt(st, 12) + fieldInt(st, 13) + fieldInt(st, 14)
					if pidsFromProc {
						us.Pids += int(fieldInt(st, 17))
					}
					if memFromProc && !multi {
						us.Memory += fieldInt(st, 21) * int64(os.Getpagesize())
					}
				}
			}
		}
		// RSS counts shared pages in every process that maps them: an
		// instance of several processes is summed by PSS instead.
		if memFromProc && multi {
			if b, err := readInto(procPath(dir, pid, "/smaps_rollup"), buf); err == nil {
				us.Memory += keyKB(b, "Pss:")
			}
		}
		if ioFromProc {
			if b, err := u.readProc(f.pio, leader, dir, pid, "/io", buf); err == nil {
				us.IORead += keyColon(b, "read_bytes")
				us.IOWrite += keyColon(b, "write_bytes")
			}
		}
		if leader && f.fdDir >= 0 {
			us.FDs += countFDs(f.fdDir, buf)
		} else if fd, err := unixOpenDir(procPath(dir, pid, "/fd")); err == nil {
			us.FDs += countFDs(fd, buf)
			unix.Close(fd)
		}
	}
	if cpuFromProc {
		us.CPUSeconds = float64(ticks) / 100 // USER_HZ = 100
	}
	// CPU is the average since the previous sample of this instance.
	now := time.Now()
	if !f.prevAt.IsZero() && now.After(f.prevAt) && us.CPUSeconds >= f.prevCPU {
		us.CPU = (us.CPUSeconds - f.prevCPU) / now.Sub(f.prevAt).Seconds()
	}
	f.prevCPU, f.prevAt = us.CPUSeconds, now
	return us, nil
}

func procPath(dir string, pid int, file string) string {
	if dir == "" {
		dir = "/proc/" + strconv.Itoa(pid)
	}
	return dir + file
}

// readProc reads one of a process's /proc files: the leader's through
// its open descriptor, another's by path.
func (u *Unix) readProc(fd int, leader bool, dir string, pid int, file string, buf []byte) ([]byte, error) {
	if leader && fd >= 0 {
		return pread(fd, buf) // no path built: nothing allocated per sample
	}
	return readInto(procPath(dir, pid, file), buf)
}

// keyKB reads "Key:   123 kB" (smaps_rollup) in bytes.
func keyKB(b []byte, key string) int64 {
	i := bytes.Index(b, []byte(key))
	if i < 0 {
		return 0
	}
	return fieldInt(b[i+len(key):], 0) << 10
}

// keyColon reads "key: 123" (/proc/PID/io).
func keyColon(b []byte, key string) int64 {
	i := bytes.Index(b, []byte("\n"+key+": "))
	j := len(key) + 3
	if bytes.HasPrefix(b, []byte(key+": ")) {
		i, j = 0, len(key)+2
	}
	if i < 0 {
		return 0
	}
	return fieldInt(b[i+j:], 0)
}

func parsePIDs(b []byte, out []int) []int {
	for len(b) > 0 {
		var v int
		j := 0
		for ; j < len(b) && b[j] >= '0' && b[j] <= '9'; j++ {
			v = v*10 + int(b[j]-'0')
		}
		if j > 0 {
			out = append(out, v)
		}
		for j < len(b) && (b[j] < '0' || b[j] > '9') {
			j++
		}
		b = b[j:]
	}
	return out
}

// sampler keeps each instance's open files, from its first sample to its
// exit.
type sampler struct {
	files  map[engine.Handle]*instFiles
	pidBuf []int
	// groups: process group -> its processes, read from /proc once per
	// tick for all the instances without a cgroup (nil: not read yet).
	groups map[int][]int
}

// PrepareSamples starts a tick: the process groups are read again.
func (u *Unix) PrepareSamples() {
	u.sampleMu.Lock()
	u.smp.groups = nil
	u.sampleMu.Unlock()
}

// groupMembers lists the processes of the group led by pgid: an instance
// without a cgroup of its own.
func (u *Unix) groupMembers(pgid int) []int {
	if u.smp.groups == nil {
		u.smp.groups = map[int][]int{}
		ents, _ := os.ReadDir("/proc")
		for _, e := range ents {
			pid, err := strconv.Atoi(e.Name())
			if err != nil {
				continue
			}
			if g, err := unix.Getpgid(pid); err == nil {
				u.smp.groups[g] = append(u.smp.groups[g], pid)
			}
		}
	}
	return u.smp.groups[pgid]
}

// forgetSample closes what an instance was sampled through (its exit).
func (u *Unix) forgetSample(h engine.Handle) {
	u.sampleMu.Lock()
	if f := u.smp.files[h]; f != nil {
		f.close()
		delete(u.smp.files, h)
	}
	u.sampleMu.Unlock()
}

func unixOpenDir(path string) (int, error) {
	return unix.Open(path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
}

func closeFD(fd int) { unix.Close(fd) }
