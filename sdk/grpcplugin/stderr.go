package grpcplugin

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
)

// Logging returns what a host puts in go-plugin's ClientConfig for the plugin binary at
// path: Logger, for go-plugin's own lines (start, exit), and Stderr, which relays each
// line the plugin writes to stderr into log, under the binary's name, at the level the
// line names.
//
// go-plugin's own relay is switched off, because it trusts the plugin: a JSON line
// whose @message, @level or @timestamp is not a string panics the host (go-plugin v1.8,
// log_entry.go's parseJSON). A plugin is a separate process precisely so that its
// mistakes cannot take the host down, so the relay here reads every field defensively.
func Logging(log hclog.Logger, path string) (logger hclog.Logger, stderr io.Writer) {
	base := filepath.Base(path)
	r := &stderrRelay{log: log.Named(base), drained: make(chan struct{})}
	return quietRelay{Logger: log, name: base, relay: r}, r
}

// quietRelay hands go-plugin a disabled logger where it would relay the plugin's stderr
// (it skips parsing when that logger is Off), and log everywhere else.
type quietRelay struct {
	hclog.Logger
	name  string
	relay *stderrRelay
}

// processExited is the line go-plugin logs once the plugin's stdout and stderr are read
// to their end and the process is reaped: from then on the relay's tail is complete.
const processExited = "plugin process exited"

// processStarted is go-plugin's line once the process runs: only then will it say the
// process exited (a binary that could not be executed never starts).
const processStarted = "plugin started"

func (q quietRelay) Debug(msg string, args ...any) {
	q.Logger.Debug(msg, args...)
	if msg == processStarted && q.relay != nil {
		q.relay.started.Store(true)
	}
}

func (q quietRelay) Info(msg string, args ...any) {
	q.Logger.Info(msg, args...)
	q.noteExit(msg)
}

// notGraceful is what go-plugin's Kill logs when it could not ask the plugin to stop
// (GRPCController's Shutdown) and kills the process instead.
const notGraceful = "plugin failed to exit gracefully"

// Warn logs notGraceful at Debug when there was no process left to stop: one that had
// exited (a plugin that died before or during its handshake) or never started (not
// executable). Kill says it of every start that failed, after the start error that
// says why, and a WARN that the plugin would not exit misleads there.
func (q quietRelay) Warn(msg string, args ...any) {
	if msg == notGraceful && q.relay != nil && (!q.relay.started.Load() || q.relay.exited()) {
		q.Logger.Debug(msg, args...)
		return
	}
	q.Logger.Warn(msg, args...)
}

// exited reports whether go-plugin has said the process exited.
func (r *stderrRelay) exited() bool {
	select {
	case <-r.drained:
		return true
	default:
		return false
	}
}

func (q quietRelay) Error(msg string, args ...any) {
	q.Logger.Error(msg, args...)
	q.noteExit(msg)
}

func (q quietRelay) noteExit(msg string) {
	if msg == processExited && q.relay != nil {
		q.relay.once.Do(func() { close(q.relay.drained) })
	}
}

var off = hclog.New(&hclog.LoggerOptions{Level: hclog.Off, Output: io.Discard})

func (q quietRelay) Named(name string) hclog.Logger {
	if name == q.name {
		return off
	}
	return q.Logger.Named(name)
}

// maxLine bounds what the relay buffers of one line; the rest of a longer line is
// relayed in pieces, at Debug, as go-plugin does.
const maxLine = 64 << 10

// stderrRelay receives the plugin's stderr as go-plugin copies it (each line, then its
// newline, in separate writes) and logs whole lines.
type stderrRelay struct {
	log     hclog.Logger
	mu      sync.Mutex
	buf     []byte
	inPanic bool // a Go panic started: its untagged trace is an error, not debug noise
	tail    []string
	drained chan struct{} // closed when go-plugin has read stderr to its end
	once    sync.Once
	started atomic.Bool // the process ran: go-plugin will close drained
}

// drainWait bounds how long StartError waits for go-plugin to finish reading a dead
// plugin's stderr; it only matters if go-plugin never says the process exited.
const drainWait = 10 * time.Second

// tailLines and tailBytes bound what the relay remembers of the plugin's last words.
const (
	tailLines = 8
	tailBytes = 512
)

// StartError adds to err, a failed start of the plugin whose Stderr was relayed by
// stderr (from [Logging]), the last lines the plugin wrote to stderr. A plugin that dies
// before the handshake — a Node.js plugin without its protos, a Python one without
// grpcio — says why there, and go-plugin's own error ("Unrecognized remote plugin
// message", "plugin exited before we could connect") does not. It waits until go-plugin
// has read the dead process's stderr to its end.
func StartError(err error, stderr io.Writer) error {
	r, ok := stderr.(*stderrRelay)
	if !ok || err == nil {
		return err
	}
	if r.started.Load() {
		select {
		case <-r.drained:
		case <-time.After(drainWait):
		}
	}
	r.mu.Lock()
	tail := append([]string(nil), r.tail...)
	if len(bytes.TrimSpace(r.buf)) > 0 {
		tail = append(tail, string(r.buf))
	}
	r.mu.Unlock()
	hint := stdoutHint(err.Error())
	if len(tail) == 0 {
		if hint != "" {
			return &startError{err: err, msg: firstWords(err.Error()) + hint + " (the plugin wrote nothing to stderr)"}
		}
		return fmt.Errorf("%w (the plugin wrote nothing to stderr)", err)
	}
	return &startError{err: err, msg: firstWords(err.Error()) + hint + "; the plugin's stderr ended with:\n  " + strings.Join(tail, "\n  ")}
}

// unrecognized is go-plugin's start error for a line on the plugin's stdout that is not
// a handshake line; the line follows it.
const unrecognized = "Unrecognized remote plugin message: "

// stdoutHint says what go-plugin's "Unrecognized remote plugin message: X" means in a
// plugin author's terms: the plugin printed X on stdout before its handshake line (a
// fmt.Println in main, a launcher's echo). go-plugin's guesses (architecture, libraries,
// permissions) never name stdout. "" for another error.
func stdoutHint(msg string) string {
	i := strings.Index(msg, unrecognized)
	if i < 0 {
		return ""
	}
	line, _, _ := strings.Cut(msg[i+len(unrecognized):], "\n")
	if line == "" {
		// go-plugin's "…: \nFailed to read any lines from plugin's stdout": it printed
		// nothing there, and exited (its stderr says why).
		return ""
	}
	if len(line) > tailBytes {
		line = line[:tailBytes] + "…"
	}
	return fmt.Sprintf(": the plugin wrote %q to stdout before its handshake line; stdout carries only the handshake, so log to stderr (in Go, sdk.Logger(); PLUGINS.md, Logging)", line)
}

// goPluginGuesses starts what go-plugin appends to "Unrecognized remote plugin message":
// guesses (another architecture, missing libraries, permissions) and the file's mode and
// owner. Once the plugin has said in its own words why it died, they only push those
// words down, and mislead.
const goPluginGuesses = "\nThis usually means"

// firstWords is a start error's message without go-plugin's guesses.
func firstWords(msg string) string {
	if i := strings.Index(msg, goPluginGuesses); i >= 0 {
		return strings.TrimRight(msg[:i], "\n ")
	}
	return msg
}

// startError is a start error with the plugin's last stderr lines.
type startError struct {
	err error
	msg string
}

func (e *startError) Error() string { return e.msg }
func (e *startError) Unwrap() error { return e.err }

func (r *stderrRelay) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			r.buf = append(r.buf, p...)
			if len(r.buf) > maxLine {
				r.log.Debug(string(r.buf))
				r.buf = r.buf[:0]
			}
			break
		}
		r.buf = append(r.buf, p[:i]...)
		r.relay(r.buf)
		r.buf = r.buf[:0]
		p = p[i+1:]
	}
	return n, nil
}

// remember keeps line in the tail StartError reports. JavaScript stack frames ("    at
// f (file:1:2)") are left out, so the tail keeps room for the error above them.
func (r *stderrRelay) remember(line string) {
	if t := strings.TrimLeft(line, " \t"); len(t) < len(line) && strings.HasPrefix(t, "at ") {
		return
	}
	if len(line) > tailBytes {
		line = line[:tailBytes] + "…"
	}
	if len(r.tail) == tailLines {
		r.tail = r.tail[1:]
	}
	r.tail = append(r.tail, line)
}

func (r *stderrRelay) relay(line []byte) {
	if len(bytes.TrimSpace(line)) == 0 {
		return
	}
	r.remember(string(line))
	var raw map[string]any
	if json.Unmarshal(line, &raw) != nil {
		text := string(line)
		switch {
		case strings.HasPrefix(text, "panic: "), strings.HasPrefix(text, "fatal error: "):
			r.inPanic = true
			r.log.Error(text)
		case r.inPanic:
			r.log.Error(text)
		default:
			r.log.Debug(text)
		}
		return
	}
	level := hclog.Debug
	if s, ok := raw["@level"].(string); ok {
		if l := hclog.LevelFromString(s); l != hclog.NoLevel {
			level = l
		}
	}
	msg := ""
	if v, ok := raw["@message"]; ok {
		if s, ok := v.(string); ok {
			msg = s
		} else {
			msg = fmt.Sprint(v)
		}
	}
	delete(raw, "@level")
	delete(raw, "@message")
	delete(raw, "@timestamp") // the host stamps its own lines
	keys := make([]string, 0, len(raw))
	for k := range raw {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	args := make([]any, 0, 2*len(keys))
	for _, k := range keys {
		args = append(args, k, raw[k])
	}
	r.log.Log(level, msg, args...)
}
