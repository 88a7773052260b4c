// Package guestmem implements robustlist2.Memory and robustlist2.Waker:
// the guest memory the robust-list walker reads and the futex wakes it
// issues. Addresses are guest virtual addresses (uint64); guest words are
// little-endian.
//
// Three families:
//
//   - [InProcess] and [FutexWaker]: the emulator shares the guest's address
//     space (as FEX does; QEMU linux-user adds a fixed guest base). Every
//     access is checked against the guest's ranges, faults become errors
//     (runtime/debug.SetPanicOnFault), and the compare-and-swap and the
//     wake are the real, atomic, shared ones.
//   - [Process] and [ProcessWaker]: another process (the ptrace adapter).
//     Private memory is read and written with process_vm_readv/writev
//     through a per-walk page cache; MAP_SHARED memory is reached through
//     fexrl's own mapping of the same object, so compare-and-swap and wake
//     there are atomic and seen by every process that maps it.
//   - [Simulated] and [RecordingWaker]: deterministic sparse memory and a
//     wake recorder, for replay and tests.
//
// The package does not import robustlist2: its types satisfy the
// interfaces structurally.
package guestmem
