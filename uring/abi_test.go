package uring

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"unsafe"
)

// layoutProgram prints sizeof and offsetof of every ABI struct we mirror,
// as the installed kernel header defines them.
const layoutProgram = `#include <stdio.h>
#include <stddef.h>
#include <linux/io_uring.h>
#define S(t) printf("size %s %zu\n", #t, sizeof(struct t))
#define O(t, f, name) printf("off %s.%s %zu\n", #t, name, offsetof(struct t, f))
int main(void) {
	S(io_uring_sqe); S(io_uring_cqe); S(io_uring_params); S(io_sqring_offsets);
	S(io_cqring_offsets); S(io_uring_getevents_arg); S(io_uring_rsrc_register);
	S(io_uring_rsrc_update); S(io_uring_rsrc_update2); S(io_uring_probe_op);
	S(io_uring_probe); S(io_uring_buf); S(io_uring_buf_reg);
	O(io_uring_sqe, opcode, "Opcode"); O(io_uring_sqe, flags, "Flags");
	O(io_uring_sqe, ioprio, "IOPrio"); O(io_uring_sqe, fd, "Fd"); O(io_uring_sqe, off, "Off");
	O(io_uring_sqe, addr, "Addr"); O(io_uring_sqe, len, "Len"); O(io_uring_sqe, rw_flags, "OpFlags");
	O(io_uring_sqe, user_data, "UserData"); O(io_uring_sqe, buf_index, "BufIndex");
	O(io_uring_sqe, personality, "Personality"); O(io_uring_sqe, file_index, "FileIndex");
	O(io_uring_sqe, addr3, "Addr3");
	O(io_uring_cqe, user_data, "UserData"); O(io_uring_cqe, res, "Res"); O(io_uring_cqe, flags, "Flags");
	O(io_uring_params, sq_entries, "SQEntries"); O(io_uring_params, cq_entries, "CQEntries");
	O(io_uring_params, flags, "Flags"); O(io_uring_params, sq_thread_cpu, "SQThreadCPU");
	O(io_uring_params, sq_thread_idle, "SQThreadIdle"); O(io_uring_params, features, "Features");
	O(io_uring_params, wq_fd, "WQFd"); O(io_uring_params, sq_off, "SQOff"); O(io_uring_params, cq_off, "CQOff");
	O(io_sqring_offsets, head, "Head"); O(io_sqring_offsets, tail, "Tail");
	O(io_sqring_offsets, ring_mask, "RingMask"); O(io_sqring_offsets, ring_entries, "RingEntries");
	O(io_sqring_offsets, flags, "Flags"); O(io_sqring_offsets, dropped, "Dropped");
	O(io_sqring_offsets, array, "Array");
	O(io_cqring_offsets, head, "Head"); O(io_cqring_offsets, tail, "Tail");
	O(io_cqring_offsets, ring_mask, "RingMask"); O(io_cqring_offsets, ring_entries, "RingEntries");
	O(io_cqring_offsets, overflow, "Overflow"); O(io_cqring_offsets, cqes, "Cqes");
	O(io_cqring_offsets, flags, "Flags");
	O(io_uring_getevents_arg, sigmask, "Sigmask"); O(io_uring_getevents_arg, sigmask_sz, "SigmaskSz");
	O(io_uring_getevents_arg, ts, "Ts");
	O(io_uring_rsrc_register, nr, "Nr"); O(io_uring_rsrc_register, flags, "Flags");
	O(io_uring_rsrc_register, data, "Data"); O(io_uring_rsrc_register, tags, "Tags");
	O(io_uring_rsrc_update, offset, "Offset"); O(io_uring_rsrc_update, data, "Data");
	O(io_uring_rsrc_update2, offset, "Offset"); O(io_uring_rsrc_update2, data, "Data");
	O(io_uring_rsrc_update2, tags, "Tags"); O(io_uring_rsrc_update2, nr, "Nr");
	O(io_uring_probe_op, op, "Op"); O(io_uring_probe_op, flags, "Flags");
	O(io_uring_probe, last_op, "LastOp"); O(io_uring_probe, ops_len, "OpsLen");
	O(io_uring_buf, addr, "Addr"); O(io_uring_buf, len, "Len"); O(io_uring_buf, bid, "Bid");
	O(io_uring_buf, resv, "Resv");
	O(io_uring_buf_reg, ring_addr, "RingAddr"); O(io_uring_buf_reg, ring_entries, "RingEntries");
	O(io_uring_buf_reg, bgid, "Bgid");
	printf("off io_uring_buf_ring.tail %zu\n", offsetof(struct io_uring_buf_ring, tail));
	return 0;
}
`

// goLayouts maps the C struct names to the Go types that mirror them
// (io_uring_rsrc_update has two: its data is an address for file updates
// and an fd for ring fd registration).
var goLayouts = map[string][]reflect.Type{
	"io_uring_sqe":           {reflect.TypeFor[SQE]()},
	"io_uring_cqe":           {reflect.TypeFor[CQE]()},
	"io_uring_params":        {reflect.TypeFor[params]()},
	"io_sqring_offsets":      {reflect.TypeFor[sqringOffsets]()},
	"io_cqring_offsets":      {reflect.TypeFor[cqringOffsets]()},
	"io_uring_getevents_arg": {reflect.TypeFor[getEventsArg]()},
	"io_uring_rsrc_register": {reflect.TypeFor[rsrcRegister]()},
	"io_uring_rsrc_update":   {reflect.TypeFor[rsrcUpdate](), reflect.TypeFor[ringFdUpdate]()},
	"io_uring_rsrc_update2":  {reflect.TypeFor[rsrcUpdate2]()},
	"io_uring_probe_op":      {reflect.TypeFor[probeOp]()},
	"io_uring_probe":         {reflect.TypeFor[probeHeader]()},
	"io_uring_buf":           {reflect.TypeFor[BufRingEntry]()},
	"io_uring_buf_reg":       {reflect.TypeFor[bufReg]()},
}

// TestABILayoutMatchesKernelHeader compiles a C program against the
// installed <linux/io_uring.h> and compares every size and field offset
// with the Go mirrors. CI installs the header (linux-libc-dev) and a C
// compiler, so there it always runs.
func TestABILayoutMatchesKernelHeader(t *testing.T) {
	cc, err := exec.LookPath("cc")
	if err != nil {
		cc, err = exec.LookPath("gcc")
	}
	if err != nil || !fileExists("/usr/include/linux/io_uring.h") {
		if os.Getenv("URINGD_REQUIRE_IOURING") != "" {
			t.Fatalf("need a C compiler and /usr/include/linux/io_uring.h (apt-get install gcc linux-libc-dev)")
		}
		t.Skip("no C compiler or kernel header; TestABILayoutFixed still checks the values")
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "layout.c")
	bin := filepath.Join(dir, "layout")
	if err := os.WriteFile(src, []byte(layoutProgram), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(cc, "-o", bin, src).CombinedOutput(); err != nil {
		t.Fatalf("compiling layout probe: %v\n%s", err, out)
	}
	out, err := exec.Command(bin).Output()
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		want, _ := strconv.Atoi(f[2])
		switch f[0] {
		case "size":
			for _, typ := range goLayouts[f[1]] {
				if got := int(typ.Size()); got != want {
					t.Errorf("sizeof(struct %s) = %d, Go %s is %d", f[1], want, typ, got)
				}
			}
		case "off":
			if f[1] == "io_uring_buf_ring.tail" {
				got := int(unsafe.Offsetof(BufRingEntry{}.Resv))
				if got != want {
					t.Errorf("buf ring tail at %d, Go uses entry 0 Resv at %d", want, got)
				}
				checked++
				continue
			}
			cName, field, _ := strings.Cut(f[1], ".")
			for _, typ := range goLayouts[cName] {
				sf, ok := typ.FieldByName(field)
				if !ok {
					t.Errorf("Go mirror %s of %s has no field %s", typ, cName, field)
					continue
				}
				if int(sf.Offset) != want {
					t.Errorf("offsetof(%s) = %d, Go %s field at %d", f[1], want, typ, sf.Offset)
				}
			}
		}
		checked++
	}
	if checked < 60 {
		t.Fatalf("only %d layout facts checked; the probe output was:\n%s", checked, out)
	}
}

// TestABILayoutFixed pins the sizes from <linux/io_uring.h> so the check
// holds even where no C compiler is installed.
func TestABILayoutFixed(t *testing.T) {
	for _, c := range []struct {
		name string
		got  uintptr
		want uintptr
	}{
		{"sqe", unsafe.Sizeof(SQE{}), 64},
		{"cqe", unsafe.Sizeof(CQE{}), 16},
		{"params", unsafe.Sizeof(params{}), 120},
		{"getevents_arg", unsafe.Sizeof(getEventsArg{}), 24},
		{"buf", unsafe.Sizeof(BufRingEntry{}), 16},
		{"buf_reg", unsafe.Sizeof(bufReg{}), 40},
		{"rsrc_register", unsafe.Sizeof(rsrcRegister{}), 32},
		{"rsrc_update", unsafe.Sizeof(rsrcUpdate{}), 16},
		{"rsrc_update (ring fds)", unsafe.Sizeof(ringFdUpdate{}), 16},
		{"rsrc_update2", unsafe.Sizeof(rsrcUpdate2{}), 32},
		{"rsrc_update.data", unsafe.Offsetof(rsrcUpdate{}.Data), 8},
		{"getevents_arg.ts", unsafe.Offsetof(getEventsArg{}.Ts), 16},
		{"uptr", unsafe.Sizeof(uptr{}), 8},
		{"sqe.user_data", unsafe.Offsetof(SQE{}.UserData), 32},
		{"sqe.buf_index", unsafe.Offsetof(SQE{}.BufIndex), 40},
		{"sqe.file_index", unsafe.Offsetof(SQE{}.FileIndex), 44},
		{"sqe.addr3", unsafe.Offsetof(SQE{}.Addr3), 48},
	} {
		if c.got != c.want {
			t.Errorf("%s: %d, kernel %d", c.name, c.got, c.want)
		}
	}
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }
