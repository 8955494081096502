package job

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// ResidentMemory returns the process's resident memory now and its
// high-water mark (Linux's VmRSS and VmHWM from /proc/self/status), in
// bytes. Elsewhere it returns an error.
func ResidentMemory() (current, peak int64, err error) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, 0, fmt.Errorf("resident memory: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	found := 0
	for sc.Scan() {
		key, value, ok := strings.Cut(sc.Text(), ":")
		if !ok || (key != "VmRSS" && key != "VmHWM") {
			continue
		}
		fields := strings.Fields(value)
		if len(fields) != 2 || fields[1] != "kB" {
			return 0, 0, fmt.Errorf("resident memory: unexpected /proc/self/status line %q", sc.Text())
		}
		kb, err := strconv.ParseInt(fields[0], 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("resident memory: %w", err)
		}
		if key == "VmRSS" {
			current = kb << 10
		} else {
			peak = kb << 10
		}
		found++
	}
	if err := sc.Err(); err != nil {
		return 0, 0, fmt.Errorf("resident memory: %w", err)
	}
	if found != 2 {
		return 0, 0, fmt.Errorf("resident memory: /proc/self/status has no VmRSS and VmHWM")
	}
	return current, peak, nil
}
