package probe

import (
	"fmt"

	"github.com/uringd/uringd/uring"
)

// setupFlagNames names the IORING_SETUP_* bits, in bit order.
var setupFlagNames = []struct {
	bit  uint32
	name string
}{
	{uring.SetupIOPoll, "IOPOLL"},
	{uring.SetupSQPoll, "SQPOLL"},
	{uring.SetupSQAff, "SQ_AFF"},
	{uring.SetupCQSize, "CQSIZE"},
	{uring.SetupClamp, "CLAMP"},
	{uring.SetupAttachWQ, "ATTACH_WQ"},
	{uring.SetupRDisabled, "R_DISABLED"},
	{uring.SetupSubmitAll, "SUBMIT_ALL"},
	{uring.SetupCoopTaskrun, "COOP_TASKRUN"},
	{uring.SetupTaskrunFlag, "TASKRUN_FLAG"},
	{uring.SetupSQE128, "SQE128"},
	{uring.SetupCQE32, "CQE32"},
	{uring.SetupSingleIssuer, "SINGLE_ISSUER"},
	{uring.SetupDeferTaskrun, "DEFER_TASKRUN"},
	{uring.SetupNoMmap, "NO_MMAP"},
	{uring.SetupRegisteredFdOnly, "REGISTERED_FD_ONLY"},
	{uring.SetupNoSQArray, "NO_SQARRAY"},
}

// featureNames names the IORING_FEAT_* bits, in bit order.
var featureNames = []struct {
	bit  uint32
	name string
}{
	{uring.FeatSingleMmap, "SINGLE_MMAP"},
	{uring.FeatNoDrop, "NODROP"},
	{uring.FeatSubmitStable, "SUBMIT_STABLE"},
	{uring.FeatRWCurPos, "RW_CUR_POS"},
	{uring.FeatCurPersonality, "CUR_PERSONALITY"},
	{uring.FeatFastPoll, "FAST_POLL"},
	{uring.FeatPoll32Bits, "POLL_32BITS"},
	{uring.FeatSQPollNonfixed, "SQPOLL_NONFIXED"},
	{uring.FeatExtArg, "EXT_ARG"},
	{uring.FeatNativeWorkers, "NATIVE_WORKERS"},
	{uring.FeatRsrcTags, "RSRC_TAGS"},
	{uring.FeatCQESkip, "CQE_SKIP"},
	{uring.FeatLinkedFile, "LINKED_FILE"},
	{uring.FeatRegRegRing, "REG_REG_RING"},
	// Newer than uring's constants; named here for the report only.
	{1 << 14, "RECVSEND_BUNDLE"},
	{1 << 15, "MIN_TIMEOUT"},
	{1 << 16, "RW_ATTR"},
	{1 << 17, "NO_IOWAIT"},
}

// bitNames returns the names of the bits set in v, and "0x..." for bits
// without a name (newer kernels report more).
func bitNames(v uint32, names []struct {
	bit  uint32
	name string
}) []string {
	out := []string{}
	for _, n := range names {
		if v&n.bit != 0 {
			out = append(out, n.name)
			v &^= n.bit
		}
	}
	for b := uint32(1); v != 0; b <<= 1 {
		if v&b != 0 {
			out = append(out, fmt.Sprintf("%#x", b))
			v &^= b
		}
	}
	return out
}

// requiredOps are the opcodes sched prepares: every one is in Linux 6.1.
var requiredOps = []uring.Op{
	uring.OpNop, uring.OpRead, uring.OpWrite, uring.OpReadv, uring.OpWritev,
	uring.OpOpenat2, uring.OpStatx, uring.OpClose, uring.OpFsync, uring.OpFallocate,
	uring.OpSplice, uring.OpAccept, uring.OpConnect, uring.OpRecv, uring.OpSend,
	uring.OpSendZC, uring.OpShutdown, uring.OpTimeout, uring.OpAsyncCancel, uring.OpPollAdd,
}

// requiredFlags are the setup flags a loop that owns its thread asks
// for; the kernel grants them from Linux 6.1 (DEFER_TASKRUN).
var requiredFlags = []struct {
	bit    uint32
	name   string
	kernel string
}{
	{uring.SetupSingleIssuer, "SINGLE_ISSUER", "6.0"},
	{uring.SetupDeferTaskrun, "DEFER_TASKRUN", "6.1"},
	{uring.SetupCoopTaskrun, "COOP_TASKRUN", "5.19"},
	{uring.SetupSubmitAll, "SUBMIT_ALL", "5.18"},
}

// requiredFeatures are the IORING_FEAT_* bits uring relies on.
var requiredFeatures = []struct {
	bit    uint32
	name   string
	kernel string
}{
	{uring.FeatNoDrop, "NODROP", "5.5"},
	{uring.FeatExtArg, "EXT_ARG", "5.11"},
	{uring.FeatSingleMmap, "SINGLE_MMAP", "5.4"},
}
