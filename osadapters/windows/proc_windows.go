//go:build windows

package windows

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"unsafe"

	"golang.org/x/sys/windows"
)

// Reading processes and resolving programs on Windows, without
// gopsutil/process (see procK32GetProcessMemoryInfo).

// processMemoryCounters is PROCESS_MEMORY_COUNTERS (psapi.h), missing
// from golang.org/x/sys/windows.
type processMemoryCounters struct {
	CB                         uint32
	PageFaultCount             uint32
	PeakWorkingSetSize         uintptr
	WorkingSetSize             uintptr
	QuotaPeakPagedPoolUsage    uintptr
	QuotaPagedPoolUsage        uintptr
	QuotaPeakNonPagedPoolUsage uintptr
	QuotaNonPagedPoolUsage     uintptr
	PagefileUsage              uintptr
	PeakPagefileUsage          uintptr
}

// K32GetProcessMemoryInfo is GetProcessMemoryInfo as kernel32 exports it.
//
// hsu reads processes itself rather than through gopsutil/process, whose
// init enables SeDebugPrivilege in hsu's token: every worker would then
// inherit that privilege enabled.
var procK32GetProcessMemoryInfo = kernel32.NewProc("K32GetProcessMemoryInfo")

// workingSet is the resident set of pid.
func workingSet(pid int) (int64, error) {
	ph, err := windows.OpenProcess(windows.PROCESS_QUERY_LIMITED_INFORMATION|windows.PROCESS_VM_READ, false, uint32(pid))
	if err != nil {
		// Another user's process may grant the limited right alone, which
		// is enough on current Windows versions.
		if ph, err = windows.OpenProcess(windows.PROCESS_QUERY_LIMITED_INFORMATION, false, uint32(pid)); err != nil {
			return 0, err
		}
	}
	defer windows.CloseHandle(ph)
	m := new(processMemoryCounters)
	m.CB = uint32(unsafe.Sizeof(*m))
	if r, _, err := procK32GetProcessMemoryInfo.Call(uintptr(ph), uintptr(unsafe.Pointer(m)), uintptr(m.CB)); r == 0 {
		return 0, fmt.Errorf("GetProcessMemoryInfo %d: %w", pid, err)
	}
	return int64(m.WorkingSetSize), nil
}

// commandLine is pid's command line (ProcessCommandLineInformation,
// readable with the limited query right).
func commandLine(pid int) (string, error) {
	ph, err := windows.OpenProcess(windows.PROCESS_QUERY_LIMITED_INFORMATION, false, uint32(pid))
	if err != nil {
		return "", err
	}
	defer windows.CloseHandle(ph)
	ptr := uint32(unsafe.Sizeof(uintptr(0)))
	for n := uint32(1024); ; {
		buf := make([]uintptr, (n+ptr-1)/ptr) // aligned for the UNICODE_STRING at its head
		size := uint32(len(buf)) * ptr
		err := windows.NtQueryInformationProcess(ph, windows.ProcessCommandLineInformation, unsafe.Pointer(&buf[0]), size, &n)
		if (errors.Is(err, windows.STATUS_INFO_LENGTH_MISMATCH) || errors.Is(err, windows.STATUS_BUFFER_TOO_SMALL) ||
			errors.Is(err, windows.STATUS_BUFFER_OVERFLOW)) && n > size {
			continue
		}
		if err != nil {
			return "", err
		}
		return (*windows.NTUnicodeString)(unsafe.Pointer(&buf[0])).String(), nil
	}
}

// processes calls f with every process of a Toolhelp32 snapshot.
func processes(f func(e *windows.ProcessEntry32)) error {
	snap, err := windows.CreateToolhelp32Snapshot(windows.TH32CS_SNAPPROCESS, 0)
	if err != nil {
		return fmt.Errorf("CreateToolhelp32Snapshot: %w", err)
	}
	defer windows.CloseHandle(snap)
	e := windows.ProcessEntry32{Size: uint32(unsafe.Sizeof(windows.ProcessEntry32{}))}
	for err = windows.Process32First(snap, &e); err == nil; err = windows.Process32Next(snap, &e) {
		f(&e)
	}
	return nil
}

// threadCount sums the threads of pids.
func threadCount(pids []int) (int, error) {
	n := 0
	err := processes(func(e *windows.ProcessEntry32) {
		if slices.Contains(pids, int(e.ProcessID)) {
			n += int(e.Threads)
		}
	})
	return n, err
}

// allPIDs lists every process.
func allPIDs() ([]int, error) {
	var out []int
	err := processes(func(e *windows.ProcessEntry32) { out = append(out, int(e.ProcessID)) })
	return out, err
}

// winLookPath resolves a program as CreateProcess would not: in the
// worker's own PATH and PATHEXT (not hsu's), relative to its workdir.
// Relative PATH entries are skipped, as os/exec does.
func winLookPath(prog, dir string, env []string) (string, error) {
	exts := []string{".com", ".exe", ".bat", ".cmd"}
	if v := envValue(env, "PATHEXT"); v != "" {
		exts = nil
		for _, e := range strings.Split(strings.ToLower(v), ";") {
			if e = strings.TrimSpace(e); e != "" {
				if e[0] != '.' {
					e = "." + e
				}
				exts = append(exts, e)
			}
		}
	}
	if strings.ContainsAny(prog, `\/:`) {
		if !filepath.IsAbs(prog) {
			prog = filepath.Join(dir, prog)
		}
		return findExecutable(prog, exts)
	}
	for _, d := range filepath.SplitList(envValue(env, "PATH")) {
		if d == "" || !filepath.IsAbs(d) {
			continue
		}
		if p, err := findExecutable(filepath.Join(d, prog), exts); err == nil {
			return p, nil
		}
	}
	return "", exec.ErrNotFound
}

// findExecutable tries file as named (when it has an extension), then with
// each extension.
func findExecutable(file string, exts []string) (string, error) {
	try := func(f string) error {
		fi, err := os.Stat(f)
		switch {
		case err != nil:
			return err
		case fi.IsDir():
			return os.ErrPermission
		}
		return nil
	}
	var first error
	if filepath.Ext(file) != "" {
		if first = try(file); first == nil {
			return file, nil
		}
	}
	for _, e := range exts {
		if err := try(file + e); err == nil {
			return file + e, nil
		}
	}
	if first != nil {
		return "", first
	}
	return "", exec.ErrNotFound
}

// envValue is the value of key in env (Windows names are
// case-insensitive; the last one wins, as os/exec keeps the last).
func envValue(env []string, key string) string {
	v := ""
	for _, kv := range env {
		if k, val, ok := strings.Cut(kv, "="); ok && strings.EqualFold(k, key) {
			v = val
		}
	}
	return v
}

// shellPath is cmd.exe: %ComSpec%, else %SystemRoot%\System32\cmd.exe.
func shellPath(env []string) string {
	if c := envValue(env, "ComSpec"); c != "" {
		return c
	}
	root := envValue(env, "SystemRoot")
	if root == "" {
		root = `C:\Windows`
	}
	return filepath.Join(root, "System32", "cmd.exe")
}

// spawnErrno adds to a CreateProcess error the errno the engine reasons
// about (errnoName): an executable of the wrong format or a missing
// workdir is permanent, as ENOEXEC and ENOTDIR are on Unix.
func spawnErrno(err error) error {
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		return err
	}
	var posix syscall.Errno
	switch errno {
	case windows.ERROR_BAD_EXE_FORMAT, windows.ERROR_EXE_MACHINE_TYPE_MISMATCH:
		posix = syscall.ENOEXEC
	case windows.ERROR_DIRECTORY:
		posix = syscall.ENOTDIR
	case windows.ERROR_FILENAME_EXCED_RANGE:
		posix = syscall.ENAMETOOLONG
	case windows.ERROR_NOT_ENOUGH_MEMORY, windows.ERROR_COMMITMENT_LIMIT:
		posix = syscall.ENOMEM
	case windows.ERROR_ELEVATION_REQUIRED:
		posix = syscall.EPERM
	default:
		return err
	}
	return fmt.Errorf("%w (%w)", posix, err)
}
