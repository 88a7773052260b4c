package guestmem_test

import (
	"github.com/fexrl/fexrl/robustlist2"
	"github.com/fexrl/fexrl/robustlist2/guestmem"
)

var (
	_ robustlist2.Memory = (*guestmem.InProcess)(nil)
	_ robustlist2.Memory = (*guestmem.Simulated)(nil)
	_ robustlist2.Waker  = (*guestmem.RecordingWaker)(nil)
)
