package trace

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// MaxLineSize is the longest line a Reader accepts, in bytes.
const MaxLineSize = 64 << 20

// LineError is an error in one line of a trace.
type LineError struct {
	// Line is the line number, from 1.
	Line int64
	// Err says what is wrong.
	Err error
}

// Error returns "line N: ...".
func (e *LineError) Error() string { return fmt.Sprintf("line %d: %v", e.Line, e.Err) }

// Unwrap returns the cause.
func (e *LineError) Unwrap() error { return e.Err }

// Reader reads a trace one event at a time, checking each line as it
// goes: it holds one line and one event, never the whole trace.
type Reader struct {
	br     *bufio.Reader
	line   int64
	offset int64
	long   []byte
	hdr    Header
	dec    *eventDecoder
	ev     Event
	err    error
}

// NewReader reads and checks the header of the trace in r.
func NewReader(r io.Reader) (*Reader, error) {
	rd := &Reader{br: bufio.NewReaderSize(r, 256<<10)}
	line, err := rd.readLine()
	if err == io.EOF {
		return nil, &LineError{Line: 1, Err: errors.New("empty trace: no header")}
	}
	if err != nil {
		return nil, err
	}
	var sc scanner
	h, err := decodeHeader(&sc, line)
	if err != nil {
		return nil, &LineError{Line: 1, Err: fmt.Errorf("header: %w", err)}
	}
	rd.hdr = h
	rd.dec = newEventDecoder(h.Config)
	return rd, nil
}

// Header returns the trace's header.
func (r *Reader) Header() Header { return r.hdr }

// Line returns the number of the line last read.
func (r *Reader) Line() int64 { return r.line }

// Offset returns how many bytes of the trace have been read.
func (r *Reader) Offset() int64 { return r.offset }

// Next returns the next event, or io.EOF after the last one. The event
// and everything it points to belong to the Reader and are valid until
// the next call. A malformed line is a *LineError, and so is every later
// call.
func (r *Reader) Next() (*Event, error) {
	if r.err != nil {
		return nil, r.err
	}
	line, err := r.readLine()
	if err != nil {
		r.err = err
		return nil, err
	}
	if err := r.dec.decode(line, &r.ev); err != nil {
		r.err = &LineError{Line: r.line, Err: err}
		return nil, r.err
	}
	return &r.ev, nil
}

// readLine returns the next line without its end of line.
func (r *Reader) readLine() ([]byte, error) {
	line, err := r.br.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		r.long = append(r.long[:0], line...)
		for err == bufio.ErrBufferFull {
			if len(r.long) > MaxLineSize {
				r.line++
				return nil, &LineError{Line: r.line, Err: fmt.Errorf("line longer than %d bytes", MaxLineSize)}
			}
			line, err = r.br.ReadSlice('\n')
			r.long = append(r.long, line...)
		}
		line = r.long
	}
	if err == io.EOF && len(line) == 0 {
		return nil, io.EOF
	}
	if err != nil && err != io.EOF {
		return nil, &LineError{Line: r.line + 1, Err: err}
	}
	r.line++
	r.offset += int64(len(line))
	if n := len(line); n > 0 && line[n-1] == '\n' {
		line = line[:n-1]
	}
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	if len(line) > MaxLineSize {
		return nil, &LineError{Line: r.line, Err: fmt.Errorf("line longer than %d bytes", MaxLineSize)}
	}
	if (len(line) == 0 || line[0] <= ' ') && len(bytes.TrimSpace(line)) == 0 {
		return nil, &LineError{Line: r.line, Err: errors.New("empty line")}
	}
	return line, nil
}
