package logging

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestNew(t *testing.T) {
	tests := []struct {
		level   string
		json    bool
		wantErr bool
		infoOut bool
		warnOut bool
	}{
		{"", false, false, false, true},
		{"info", false, false, true, true},
		{"DEBUG", true, false, true, true},
		{"error", false, false, false, false},
		{"off", false, false, false, false},
		{"loud", false, true, false, false},
	}
	for _, tt := range tests {
		var buf bytes.Buffer
		l, err := New(tt.level, tt.json, &buf)
		if (err != nil) != tt.wantErr {
			t.Fatalf("New(%q): err %v", tt.level, err)
		}
		if err != nil {
			continue
		}
		l.Info("info-line")
		l.Warn("warn-line")
		_ = l.Sync()
		out := buf.String()
		if strings.Contains(out, "info-line") != tt.infoOut || strings.Contains(out, "warn-line") != tt.warnOut {
			t.Errorf("level %q: output %q", tt.level, out)
		}
		if tt.json && out != "" {
			for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
				var m map[string]any
				if err := json.Unmarshal([]byte(line), &m); err != nil {
					t.Errorf("level %q: not JSON: %q", tt.level, line)
				}
			}
		}
	}
}
