//go:build linux

// Package trim gives back the pages of hsu's own program that only its
// start needed: config parsing, validation, the first spawns. They are
// clean pages of the executable's read-only mappings, so the kernel reads
// them again from the page cache on their next use; meanwhile they count
// neither in hsu's resident set nor against the memory of a box that
// runs hsu for months.
package trim

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// Executable drops the resident pages of the executable's read-only
// private mappings (text and rodata). Writable mappings are never
// touched: their copied-on-write pages hold the program's data. It
// returns how many bytes of mappings it advised.
func Executable() (int64, error) {
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return 0, fmt.Errorf("trim: %w", err)
	}
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return 0, fmt.Errorf("trim: %w", err)
	}
	defer f.Close()
	var total int64
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		start, end, ok := readOnlyMapping(sc.Bytes(), exe)
		if !ok {
			continue
		}
		// MADV_DONTNEED on a private, never-written file mapping only
		// unmaps its pages: the data stays the file's.
		if _, _, e := unix.Syscall(unix.SYS_MADVISE, uintptr(start), uintptr(end-start), unix.MADV_DONTNEED); e != 0 {
			return total, fmt.Errorf("trim: madvise %x-%x: %w", start, end, e)
		}
		total += int64(end - start)
	}
	return total, sc.Err()
}

// readOnlyMapping parses one line of /proc/self/maps ("start-end perms
// offset dev inode path") and reports whether it is a read-only private
// mapping of exe.
func readOnlyMapping(line []byte, exe string) (start, end uint64, ok bool) {
	f := bytes.Fields(line)
	if len(f) < 6 || string(f[5]) != exe {
		return 0, 0, false
	}
	perms := f[1]
	if len(perms) != 4 || perms[1] != '-' || perms[3] != 'p' {
		return 0, 0, false // writable, or shared
	}
	a, b, found := bytes.Cut(f[0], []byte("-"))
	if !found {
		return 0, 0, false
	}
	start, err1 := strconv.ParseUint(string(a), 16, 64)
	end, err2 := strconv.ParseUint(string(b), 16, 64)
	if err1 != nil || err2 != nil || end <= start {
		return 0, 0, false
	}
	return start, end, true
}
