package main

import (
	"flag"
	"fmt"
)

// newFlags returns a flag set for a subcommand that reports errors
// instead of exiting, and prints its usage line and defaults on -h.
func newFlags(e *env, name, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet("fexrl "+name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		fmt.Fprintf(e.stderr, "usage: fexrl %s %s\n", name, synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args; a bad flag or -h is errUsage (the flag package
// has already said why), and helpRequested says -h was asked for.
func parseFlags(fs *flag.FlagSet, args []string) (helpRequested bool, err error) {
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return true, nil
		}
		return false, errUsage
	}
	return false, nil
}

// noArgs fails with a usage error if fs has positional arguments left.
func noArgs(e *env, fs *flag.FlagSet) error {
	if fs.NArg() > 0 {
		fmt.Fprintf(e.stderr, "fexrl: unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return errUsage
	}
	return nil
}
