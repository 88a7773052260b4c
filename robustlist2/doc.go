// Package robustlist2 is fexrl's model of robust futex lists: per-task list
// heads with their bitness (the set_robust_list2/get_robust_list2
// semantics, with the legacy set_robust_list/get_robust_list mapped onto
// them), the kernel's exit-time walk for 32- and 64-bit lists, and the host
// back ends that decide who walks a list when a thread dies.
//
// Guest memory and futex wakes are reached through the small [Memory] and
// [Waker] interfaces; robustlist2/guestmem implements them.
package robustlist2
