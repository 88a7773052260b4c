package translator_test

import (
	"fmt"

	"github.com/fexrl/fexrl/translator"
)

// guestStack is a one-word guest memory for the example.
type guestStack struct {
	addr uint64
	word uint32
}

func (g guestStack) Load32(addr uint64) (uint32, error) {
	if addr != g.addr {
		return 0, fmt.Errorf("fault at %#x", addr)
	}
	return g.word, nil
}

func ExampleDecodeSite() {
	// i386 glibc entering the kernel through the vDSO: call *%gs:0x10.
	code := []byte{0x65, 0xff, 0x15, 0x10, 0x00, 0x00, 0x00}
	site, err := translator.DecodeSite(code, 32)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(site.Kind, site.ABI.Name, site.Len, site.Text)

	// set_robust_list(head, 12) as the emulator holds the registers.
	regs := translator.Regs{RAX: 311, RBX: 0xf7d8a7e0, RCX: 12, RIP: 0x8049abc}
	args, err := site.ReadArgs(&regs, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("nr %d head %#x len %d\n", site.Number(&regs), args[0], args[1])
	site.SetReturn(&regs, 0)
	regs.RIP = site.NextIP(&regs)
	fmt.Printf("eax %d, continue at %#x\n", regs.RAX, regs.RIP)

	// sysenter takes arg6 from the stack, at [ebp].
	site, _ = translator.DecodeSite([]byte{0x0f, 0x34, 0xcd, 0x80}, 32)
	regs = translator.Regs{RAX: 240, RBP: 0xffffd000, RIP: 0xf7fc1577}
	args, err = site.ReadArgs(&regs, guestStack{addr: 0xffffd000, word: 0x2a})
	fmt.Println(site.Kind, site.Args[5], args[5], err)
	fmt.Printf("continue at %#x, after the int $0x80\n", site.NextIP(&regs))

	// Anything else is an error that says what it found.
	_, err = translator.DecodeSite([]byte{0x65, 0xff, 0x15, 0x14, 0x00, 0x00, 0x00}, 32)
	fmt.Println(err)
	// Output:
	// vdso-call x86_32 7 call *%gs:0x10
	// nr 311 head 0xf7d8a7e0 len 12
	// eax 0, continue at 0x8049ac3
	// sysenter [ebp] 42 <nil>
	// continue at 0xf7fc157b, after the int $0x80
	// translator: 32-bit code [65 ff 15 14 00 00 00] "call *%gs:0x14": not the vDSO call (call *%gs:0x10 in 32-bit code)
}
