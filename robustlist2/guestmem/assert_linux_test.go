package guestmem_test

import (
	"github.com/fexrl/fexrl/robustlist2"
	"github.com/fexrl/fexrl/robustlist2/guestmem"
)

var (
	_ robustlist2.Memory = (*guestmem.Process)(nil)
	_ robustlist2.Waker  = (*guestmem.FutexWaker)(nil)
	_ robustlist2.Waker  = (*guestmem.ProcessWaker)(nil)
)
