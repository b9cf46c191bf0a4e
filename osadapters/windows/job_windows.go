//go:build windows

package windows

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/windows"

	"github.com/hsu-run/hsu/config"
)

// Windows SDK definitions missing from golang.org/x/sys/windows v0.48.0.
const (
	// JOB_OBJECT_MSG_* (winnt.h): the message identifiers a job posts to
	// its completion port.
	jobObjectMsgActiveProcessLimit = 3  // JOB_OBJECT_MSG_ACTIVE_PROCESS_LIMIT
	jobObjectMsgJobMemoryLimit     = 10 // JOB_OBJECT_MSG_JOB_MEMORY_LIMIT
	// jobMsgFlush is not a Windows message: hsu posts it itself, behind
	// whatever the job posted, to learn that every earlier message of the
	// job has been handled (a completion port is FIFO).
	jobMsgFlush = 0x48535500

	// JOB_OBJECT_CPU_RATE_CONTROL_* (winnt.h).
	jobObjectCPURateControlEnable  = 0x1 // JOB_OBJECT_CPU_RATE_CONTROL_ENABLE
	jobObjectCPURateControlHardCap = 0x4 // JOB_OBJECT_CPU_RATE_CONTROL_HARD_CAP

	// terminateCode is the exit code hsu gives the processes it
	// terminates (128+SIGKILL, as a Unix shell reports a killed process).
	terminateCode = 137
)

// jobAccounting is JOBOBJECT_BASIC_ACCOUNTING_INFORMATION (winnt.h).
type jobAccounting struct {
	TotalUserTime             int64 // 100 ns units, every process the job ever had
	TotalKernelTime           int64
	ThisPeriodTotalUserTime   int64
	ThisPeriodTotalKernelTime int64
	TotalPageFaultCount       uint32
	TotalProcesses            uint32
	ActiveProcesses           uint32
	TotalTerminatedProcesses  uint32
}

// jobAssociateCompletionPort is JOBOBJECT_ASSOCIATE_COMPLETION_PORT (winnt.h).
type jobAssociateCompletionPort struct {
	CompletionKey  uintptr
	CompletionPort windows.Handle
}

// jobCPURateControl is JOBOBJECT_CPU_RATE_CONTROL_INFORMATION (winnt.h);
// Value is the CpuRate member of its union.
type jobCPURateControl struct {
	ControlFlags uint32
	Value        uint32
}

// The job calls go through LazyProc.Call rather than the x/sys wrappers
// that take the information block as a uintptr: Call is
// //go:uintptrescapes, so the block is on the heap and alive during the
// call, whereas a stack block passed as a plain uintptr could move.
var (
	kernel32                      = windows.NewLazySystemDLL("kernel32.dll")
	procQueryInformationJobObject = kernel32.NewProc("QueryInformationJobObject")
	procSetInformationJobObject   = kernel32.NewProc("SetInformationJobObject")
	// GetQueuedCompletionStatus is called with a uintptr for its
	// lpOverlapped result: job messages put a process ID there, which
	// must never sit in a Go pointer (the runtime rejects small
	// non-nil pointers on the stack).
	procGetQueuedCompletionStatus = kernel32.NewProc("GetQueuedCompletionStatus")
)

func setJobInfo(job windows.Handle, class uint32, info unsafe.Pointer, size uintptr) error {
	r, _, err := procSetInformationJobObject.Call(uintptr(job), uintptr(class), uintptr(info), size)
	if r == 0 {
		return err
	}
	return nil
}

func queryJobInfo(job windows.Handle, class uint32, info unsafe.Pointer, size uintptr) error {
	r, _, err := procQueryInformationJobObject.Call(uintptr(job), uintptr(class), uintptr(info), size, 0)
	if r == 0 {
		return err
	}
	return nil
}

var errJobClosed = errors.New("job object closed")

// job is one instance's Job Object. Its handle is used under mu (read) and
// closed under mu (write), so no call ever reaches a handle value that was
// closed and reused by another object.
type job struct {
	mu     sync.RWMutex
	h      windows.Handle // 0 once closed
	leader windows.Handle // the leader's process handle: while open, its PID cannot be reused
	key    uintptr        // completion key on the System's port, 0 when not associated
	start  int64          // the leader's creation time (FILETIME)

	killPids bool // resources.pids.policy immediate_kill: a refused process kills the job
	threads  bool // resources.pids is set: samples count threads
	oom      atomic.Bool
	killed   atomic.Bool   // hsu terminated the job before the leader exited
	flushed  chan struct{} // closed when jobMsgFlush came back through the port
}

// jobLimits are the limits of an instance's Job Object.
type jobLimits struct {
	memory   uint64 // JOB_OBJECT_LIMIT_JOB_MEMORY, bytes; 0 for none
	procs    uint32 // JOB_OBJECT_LIMIT_ACTIVE_PROCESS; 0 for none
	killPids bool   // terminate the job when a process is refused
	cpuRate  uint32 // hard cap in 1/10000 of the machine's CPU time; 0 for none
}

// limitsFor maps a worker's resources onto Job Object limits.
//   - memory.max with policy immediate_kill: the job's committed memory
//     limit; crossing it is reported by the port and hsu terminates the job
//     (an allocation only fails at the limit, nothing is killed by Windows).
//   - pids.max: the job's active process limit, whatever the policy (the OS
//     refuses more processes regardless, as config documents); with
//     immediate_kill a refused process also terminates the job.
//   - cpu.max with policy throttle: a hard CPU rate cap.
//
// Every other policy acts on hsu's samples (the engine).
func limitsFor(spec *config.Worker) jobLimits {
	var l jobLimits
	r := spec.Resources
	if m := r.Memory; m != nil && m.Max > 0 && m.Policy == config.ResImmediateKill {
		l.memory = uint64(m.Max)
	}
	if p := r.Pids; p != nil && p.Max > 0 {
		l.procs = uint32(min(p.Max, math.MaxInt32))
		l.killPids = p.Policy == config.ResImmediateKill
	}
	if c := r.CPU; c != nil && c.Max > 0 && c.Policy == config.ResThrottle {
		cpus := float64(windows.GetActiveProcessorCount(windows.ALL_PROCESSOR_GROUPS))
		if cpus < 1 {
			cpus = float64(runtime.NumCPU())
		}
		if float64(c.Max) < cpus { // at or above every core there is nothing to cap
			l.cpuRate = uint32(max(1, min(10000, float64(c.Max)/cpus*10000+0.5)))
		}
	}
	return l
}

// newJob creates a Job Object with the instance's limits. The job kills
// every process in it when its last handle closes (hsu's), so a crashed
// hsu never leaves a worker tree behind.
func newJob(l jobLimits, port windows.Handle, key uintptr) (*job, error) {
	h, err := windows.CreateJobObject(nil, nil)
	if err != nil {
		return nil, fmt.Errorf("CreateJobObject: %w", err)
	}
	j := &job{h: h, killPids: l.killPids, threads: l.procs > 0, flushed: make(chan struct{})}
	if err := j.setLimits(l, port, key); err != nil {
		windows.CloseHandle(h)
		return nil, err
	}
	return j, nil
}

func (j *job) setLimits(l jobLimits, port windows.Handle, key uintptr) error {
	info := new(windows.JOBOBJECT_EXTENDED_LIMIT_INFORMATION)
	// DIE_ON_UNHANDLED_EXCEPTION: a crashing worker exits at once instead
	// of waiting in a Windows Error Reporting dialog nobody will click.
	info.BasicLimitInformation.LimitFlags = windows.JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE | windows.JOB_OBJECT_LIMIT_DIE_ON_UNHANDLED_EXCEPTION
	if l.memory > 0 {
		info.BasicLimitInformation.LimitFlags |= windows.JOB_OBJECT_LIMIT_JOB_MEMORY
		info.JobMemoryLimit = uintptr(min(l.memory, uint64(^uintptr(0))))
	}
	if l.procs > 0 {
		info.BasicLimitInformation.LimitFlags |= windows.JOB_OBJECT_LIMIT_ACTIVE_PROCESS
		info.BasicLimitInformation.ActiveProcessLimit = l.procs
	}
	if err := setJobInfo(j.h, windows.JobObjectExtendedLimitInformation, unsafe.Pointer(info), unsafe.Sizeof(*info)); err != nil {
		return fmt.Errorf("job limits: %w", err)
	}
	if l.cpuRate > 0 {
		rate := &jobCPURateControl{ControlFlags: jobObjectCPURateControlEnable | jobObjectCPURateControlHardCap, Value: l.cpuRate}
		if err := setJobInfo(j.h, windows.JobObjectCpuRateControlInformation, unsafe.Pointer(rate), unsafe.Sizeof(*rate)); err != nil {
			return fmt.Errorf("job CPU rate: %w", err)
		}
	}
	// Only limits that are reported need the port: every process start
	// and exit of the job would otherwise be queued there too.
	if l.memory > 0 || l.killPids {
		assoc := &jobAssociateCompletionPort{CompletionKey: key, CompletionPort: port}
		if err := setJobInfo(j.h, windows.JobObjectAssociateCompletionPortInformation, unsafe.Pointer(assoc), unsafe.Sizeof(*assoc)); err != nil {
			return fmt.Errorf("job completion port: %w", err)
		}
		j.key = key
	}
	return nil
}

// with runs f on the job's handle unless it is closed.
func (j *job) with(f func(h windows.Handle) error) error {
	j.mu.RLock()
	defer j.mu.RUnlock()
	if j.h == 0 {
		return errJobClosed
	}
	return f(j.h)
}

// kill terminates every process of the job on hsu's behalf (a kill, a
// KILL signal, a limit).
func (j *job) kill() error {
	j.killed.Store(true)
	return j.terminate()
}

// terminate terminates every process left in the job.
func (j *job) terminate() error {
	err := j.with(func(h windows.Handle) error { return windows.TerminateJobObject(h, terminateCode) })
	if errors.Is(err, errJobClosed) {
		return nil // its instance is over: nothing is left in it
	}
	if err != nil {
		return fmt.Errorf("TerminateJobObject: %w", err)
	}
	return nil
}

func (j *job) accounting() (jobAccounting, error) {
	info := new(jobAccounting)
	err := j.with(func(h windows.Handle) error {
		return queryJobInfo(h, windows.JobObjectBasicAccountingInformation, unsafe.Pointer(info), unsafe.Sizeof(*info))
	})
	return *info, err
}

// waitEmpty polls until the job has no active process; false when the
// deadline passed first. A closed job is empty: kill-on-close took it down.
func (j *job) waitEmpty(deadline time.Time) bool {
	for {
		a, err := j.accounting()
		if err != nil || a.ActiveProcesses == 0 {
			return true
		}
		if !time.Now().Before(deadline) {
			return false
		}
		time.Sleep(2 * time.Millisecond) // polling the kernel, not synchronising tests
	}
}

// pids lists the processes in the job (JobObjectBasicProcessIdList).
func (j *job) pids() ([]int, error) {
	const hdr = 8 // NumberOfAssignedProcesses, NumberOfProcessIdsInList (two DWORDs)
	ptr := unsafe.Sizeof(uintptr(0))
	for n := 16; ; n *= 2 {
		buf := make([]uintptr, hdr/ptr+uintptr(n)) // uintptr-aligned, as ProcessIdList is
		err := j.with(func(h windows.Handle) error {
			return queryJobInfo(h, windows.JobObjectBasicProcessIdList, unsafe.Pointer(&buf[0]), uintptr(len(buf))*ptr)
		})
		if errors.Is(err, windows.ERROR_MORE_DATA) && n < 1<<20 {
			continue
		}
		if err != nil {
			return nil, err
		}
		counts := (*[2]uint32)(unsafe.Pointer(&buf[0]))
		ids := buf[hdr/ptr:]
		out := make([]int, 0, counts[1])
		for i := 0; i < int(counts[1]) && i < len(ids); i++ {
			out = append(out, int(ids[i]))
		}
		return out, nil
	}
}

// leaderExited reports whether the leader has exited.
func (j *job) leaderExited() bool {
	ev, err := windows.WaitForSingleObject(j.leader, 0)
	return err != nil || ev == windows.WAIT_OBJECT_0
}

// close releases the job; kill-on-close terminates anything still in it.
func (j *job) close() {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.h != 0 {
		windows.CloseHandle(j.h)
		j.h = 0
	}
	if j.leader != 0 {
		windows.CloseHandle(j.leader)
		j.leader = 0
	}
}

// ntResumeProcess resumes every thread of a process created suspended.
//
// Why NtResumeProcess rather than ResumeThread on the main thread:
// os/exec closes the main-thread handle CreateProcess returns and does not
// expose the thread ID, so resuming that thread would take a system-wide
// Toolhelp32 thread snapshot just to find it again. NtResumeProcess works
// from the process handle hsu already holds, in one call; it is exported
// by ntdll.dll on every Windows NT version and used the same way by
// Process Explorer and Process Hacker.
var procNtResumeProcess = windows.NewLazySystemDLL("ntdll.dll").NewProc("NtResumeProcess")

func ntResumeProcess(process windows.Handle) error {
	if err := procNtResumeProcess.Find(); err != nil {
		return err
	}
	r, _, _ := procNtResumeProcess.Call(uintptr(process))
	if r != 0 {
		return fmt.Errorf("NtResumeProcess: %w", windows.NTStatus(r))
	}
	return nil
}

// notifications handles the messages every job posts to the System's
// completion port: a limit crossed terminates the job.
func (w *Windows) notifications() {
	for {
		var msg uint32
		var key, pid uintptr
		r, _, _ := procGetQueuedCompletionStatus.Call(uintptr(w.port),
			uintptr(unsafe.Pointer(&msg)), uintptr(unsafe.Pointer(&key)), uintptr(unsafe.Pointer(&pid)), windows.INFINITE)
		if r == 0 {
			if pid == 0 {
				return // no packet: the port itself failed (closed)
			}
			continue // a failed I/O packet; jobs post none
		}
		w.mu.Lock()
		j := w.byKey[key]
		w.mu.Unlock()
		if j == nil {
			continue
		}
		switch msg {
		case jobObjectMsgJobMemoryLimit:
			j.oom.Store(true)
			j.kill()
		case jobObjectMsgActiveProcessLimit:
			if j.killPids {
				j.kill()
			}
		case jobMsgFlush:
			close(j.flushed)
		}
	}
}

// flush waits until every message the job posted before now has been
// handled, so its oom flag is final. Windows does not guarantee that job
// messages are delivered at all; a lost one makes an OOM kill look like
// a plain exit.
func (w *Windows) flush(j *job) {
	if j.key == 0 {
		return
	}
	if windows.PostQueuedCompletionStatus(w.port, jobMsgFlush, j.key, nil) != nil {
		return
	}
	select {
	case <-j.flushed:
	case <-time.After(time.Second):
	}
}
