package main

import (
	"encoding/json"
	"os"
	"time"

	shim "github.com/fexrl/fexrl/emulator-shim"
)

// runOutcome is how a guest run ended and what fexrl counted.
type runOutcome struct {
	mode     string
	exitCode int
	signal   int
	duration time.Duration
	tasks    int64
	stats    shim.Stats
}

// runReportJSON is the JSON that --report writes, for fexrl run and
// fexrl qemu alike; W is one walk log entry.
type runReportJSON[W any] struct {
	Mode            string  `json:"mode"`
	ExitCode        int     `json:"exit_code"`
	Signal          int     `json:"signal,omitempty"`
	DurationMS      float64 `json:"duration_ms"`
	Tasks           int64   `json:"tasks"`
	ListsRegistered int64   `json:"lists_registered"`
	Walks           int64   `json:"walks"`
	EntriesWalked   int64   `json:"entries_walked"`
	OwnerDiedMarked int64   `json:"owner_died_marked"`
	Woken           int64   `json:"woken"`
	WakeErrors      int64   `json:"wake_errors"`
	LimitHits       int64   `json:"limit_hits"`
	WalkFaults      int64   `json:"walk_faults"`
	UnlockWindows   int64   `json:"unlock_windows"`
	WalkLog         []W     `json:"walk_log"`
}

// writeRunReport writes the report of one run to path.
func writeRunReport[W any](path string, o runOutcome, walks []W) error {
	s := o.stats
	r := runReportJSON[W]{
		Mode: o.mode, ExitCode: o.exitCode, Signal: o.signal,
		DurationMS: float64(o.duration.Microseconds()) / 1000, Tasks: o.tasks,
		ListsRegistered: s.ListsRegistered, Walks: s.Walks, EntriesWalked: s.EntriesWalked,
		OwnerDiedMarked: s.OwnerDiedMarked, Woken: s.Woken, WakeErrors: s.WakeErrors,
		LimitHits: s.LimitHits, WalkFaults: s.WalkFaults, UnlockWindows: s.UnlockWindows, WalkLog: walks,
	}
	if r.WalkLog == nil {
		r.WalkLog = []W{}
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}
