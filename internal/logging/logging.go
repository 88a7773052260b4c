// Package logging builds fexrl's zap loggers: quiet by default (warnings
// and errors only), human-readable on a terminal, JSON on request.
package logging

import (
	"fmt"
	"io"
	"strings"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// Levels lists the accepted --log-level values.
const Levels = "debug, info, warn, error, off"

// New returns a logger writing to w at the named level ("" means warn;
// "off" discards everything), as JSON lines when json is set.
func New(level string, json bool, w io.Writer) (*zap.Logger, error) {
	if strings.EqualFold(level, "off") || strings.EqualFold(level, "none") {
		return zap.NewNop(), nil
	}
	lvl := zapcore.WarnLevel
	if level != "" {
		if err := lvl.UnmarshalText([]byte(strings.ToLower(level))); err != nil {
			return nil, fmt.Errorf("bad log level %q (want one of %s)", level, Levels)
		}
	}
	encCfg := zap.NewProductionEncoderConfig()
	encCfg.TimeKey = "ts"
	encCfg.EncodeTime = zapcore.ISO8601TimeEncoder
	var enc zapcore.Encoder
	if json {
		enc = zapcore.NewJSONEncoder(encCfg)
	} else {
		encCfg.EncodeLevel = zapcore.CapitalLevelEncoder
		enc = zapcore.NewConsoleEncoder(encCfg)
	}
	core := zapcore.NewCore(enc, zapcore.AddSync(w), lvl)
	return zap.New(core), nil
}
