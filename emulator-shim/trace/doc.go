// Package trace is fexrl's trace format, version 1: a record of what a
// guest did that the robust-list layer cares about and of what fexrl
// answered and walked, with enough guest memory to replay every walk.
// It holds the reader, the writer and the replayer; package record makes
// traces from the ptrace adapter, package importer (with strace and
// qemu) from logs users already have, and fexrl record, replay and
// import drive them.
//
// # Format
//
// A trace is JSON Lines: UTF-8, one JSON object per line, lines ending in
// "\n" (a "\r\n" is accepted). Numbers are JSON integers, never
// fractions or exponents, and must fit their field: addresses, syscall
// arguments and clone flags are unsigned 64-bit, return values and
// futex_offset signed 64-bit, TIDs 1 to 2^31-1, futex words 32-bit.
// Members may come in any order; an unknown member, a duplicate member,
// a missing required member or a value of the wrong type is an error
// naming the line (and the column, for syntax). Readers never guess.
//
// The first line is the header:
//
//	{"format":"fexrl-trace","version":1,"abis":["x86_32"],
//	 "host":{"os":"linux","arch":"amd64","kernel":"6.18.0"},
//	 "source":"record","command":["./guest"],
//	 "config":{"mode":"emulated","robust_list2":false,"unbounded":false,
//	  "kernel_unlock_rule":false,"list_limit":8}}
//
// Its members:
//
//   - format (required): "fexrl-trace".
//   - version (required): 1. A reader rejects versions it does not know;
//     any change a version-1 reader would misread bumps it.
//   - abis (required, non-empty): the guest ABIs in the trace, "x86_32"
//     and/or "x86_64".
//   - host (required): os and arch (Go's names; "unknown" when an
//     imported log does not say) and optionally kernel (uname -r).
//   - source (required): "record", "strace", "qemu", or another
//     producer's name.
//   - command: the guest's command line.
//   - config: how fexrl was set up, which replay repeats: mode
//     ("emulated", "native" or ""), robust_list2 (answer
//     set_robust_list2 instead of ENOSYS), unbounded (walk past 2048
//     entries), kernel_unlock_rule (see shim.Config), list_limit
//     (set_robust_list2 lists per task, at most 64; 0 or absent means 8).
//
// The header line may end in spaces: writers that learn the ABIs only
// as they go leave room and rewrite it in place at the end.
//
// Every other line is one event; "ev" says which.
//
// A task was created:
//
//	{"ev":"task","tid":101,"tgid":100,"parent":100,"abi":"x86_64","flags":3936000}
//
// tid and tgid are required; parent is the creating task (absent or 0
// for a task the trace did not see being created: the first one); abi
// is the task's code size if known; flags are clone's flags. The new
// task has no robust lists, as after clone in the kernel.
//
// A syscall and its answer:
//
//	{"ev":"syscall","tid":101,"abi":"x86_64","nr":273,
//	 "args":[140737353918496,24,0,0,0,0],"ret":0,"handled":true}
//
// tid, abi (the ABI the call came through: an int $0x80 from 64-bit code
// is "x86_32"), nr and the six args (zero-extended register values) are
// required. ret is what the guest got back, when known (-errno for an
// error); handled says fexrl answered it itself when the trace was
// made (otherwise the emulator or kernel performed it). Optional: code,
// the syscall instruction's bytes in lowercase hex (at most 64 bytes);
// unknown_args, the indices of arguments an imported log did not show
// (their value in args is 0); src_line, the line of the imported log.
// Traces keep the syscalls fexrl cares about: the robust-list ones,
// futex, clone, clone3, fork, vfork, execve, execveat, exit, exit_group.
//
// A task ended (exit) or called execve (exec), and fexrl walked its lists:
//
//	{"ev":"exit","tid":101,"tgid":100,"cause":"signal",
//	 "regs":{"mode":64,"ip":4198417,"sp":140737488346112,"tp":140737353922240,
//	  "gpr":{"rax":0,"rbx":6291456,"rcx":101,"rdx":1,"rsi":0,"rdi":6291460,
//	   "rbp":132,"rsp":140737488346112,"r8":0,"r9":0,"r10":0,"r11":582,
//	   "r12":0,"r13":101,"r14":140737353922376,"r15":140737353922240,
//	   "rip":4198417,"eflags":66050}},
//	 "memory":[{"addr":140737353918496,"size":8,"value":...},...],
//	 "waiters":[{"addr":140737353920512,"n":1}],
//	 "walks":[{"index":0,"head":140737353918496,"bits":64,"backend":"fexrl-walk",
//	  "futex_offset":-32,"pending":0,"stop":"end","visited":1,
//	  "marked":1,"woken":1,"entries":[{"node":...,"word":...,
//	  "action":"owner-died","old":2147483749,"new":3221225472,
//	  "wakes":1,"woken":1}]}]}
//
//	{"ev":"exec","tid":100,"tgid":100,"former":102,"abi":"x86_32","memory":[...],"walks":[...]}
//
// Their members, besides tid and tgid:
//
//   - cause (exit, required): "exit", "exit_group", "signal" or "unknown".
//   - regs (exit): the registers at a death the task did not ask for,
//     which decide whether it died inside a robust unlock: mode (32 or
//     64) and ip required, sp and tp (the %fs or %gs base) optional, and
//     optionally gpr, every general-purpose register as the unlock-window
//     check read it: rax, rbx, rcx, rdx, rsi, rdi, rbp, rsp, r8 to r15
//     and rip (unsigned 64-bit), and eflags (unsigned 32-bit), all
//     required, each once, no other; for a 32-bit task they are the
//     x86-64 registers whose low halves are the i386 ones. With gpr, ip
//     is rip (its low 32 bits in mode 32) and sp (0 when absent) is rsp.
//     Replay reads every register the check asks for from gpr; without
//     it (traces written before it, imports) only the stack pointer is
//     known, so a death inside an unlock that reaches list_op_pending
//     through another register (musl's self pointer) may be decided
//     otherwise than it was live. gpr is optional, so version 1 stays.
//   - former (exec): the TID of the thread that called execve when it
//     was not the leader (it takes the leader's TID, tid).
//   - memory: the guest words the walks read, each the first value read
//     at its address, before fexrl wrote anything: addr, size (4 or 8),
//     value, and "ro":true for a word that could be read but not
//     written. Overlapping words must agree. Absent means the memory was
//     not recorded (imported traces): the lists cannot be walked again.
//     Present, possibly empty, means any other address faulted.
//   - waiters: how many tasks the wakes found blocked at each futex word
//     (n), or "fail" with why a wake there failed.
//   - walks: what fexrl did, one object per list in walk order: index
//     (0 native, 1 compat, 2 and up the set_robust_list2 lists), head,
//     bits (32 or 64) and backend ("fexrl-walk", or "host-..." for a list
//     the host kernel walks, which then has host_index and nothing
//     more). A walk fexrl made has futex_offset, pending (list_op_pending
//     without its PI bit), stop ("end", "limit", "cycle", "head-fault",
//     "next-fault", "misaligned-word", "word-fault", "contended",
//     "no-head"), visited, marked, woken, wake_errors, truncated (the
//     entries were capped) and entries: node, word, action ("not-owner",
//     "owner-died", "wake-only", "skipped-pending", "misaligned",
//     "fault", "unlock-window-wake-only", "pending-cleared",
//     "contended"), old and new futex word, pi, pending, wakes and
//     woken (-1: the wake failed).
//
// A reader checks that a walk only claims what its memory allows: its
// head and every futex word it read lie in the recorded memory, with the
// recorded value (or the one the walk itself wrote there before).
//
// # Replay
//
// Replay runs every event through a shim.Shim: the translator's dispatch
// answers the syscalls from robustlist2's registry, and an exit or exec
// walks the task's lists on guestmem.Simulated memory holding exactly
// the recorded words (any other address faults, as it did when
// recorded; a word marked ro faults on write) with a
// guestmem.RecordingWaker holding the recorded waiters. Syscalls write
// their results (get_robust_list) to a scratch memory that accepts every
// store unless the recorded answer was EFAULT. Replay keeps only the
// live tasks and one event's memory, so it streams traces of any length.
// Compared with what the trace recorded, every difference (an answer, a
// walk's stop, an entry's action or words, a wake) is named.
package trace
