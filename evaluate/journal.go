package evaluate

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/optraj/optraj/internal/atomicfile"
)

// A journal is the results file of the retrainings of one protocol, in
// JSON lines: a header naming everything that a retraining's outcome
// depends on, then one Outcome per finished retraining, each appended and
// synced to disk before the next is counted as done. A run killed while
// appending leaves at most a torn last line, which the next open cuts off.

const journalFormat = "optraj-retrains/1"

// ErrJournal is wrapped by the errors about a results file that cannot be
// continued: one written for another evaluation, or damaged before its
// last line.
var ErrJournal = errors.New("evaluate: results file cannot be continued")

type journalHeader struct {
	Format string `json:"format"`
	Setup  any    `json:"setup"`
}

// journal appends outcomes to a results file.
type journal struct {
	path string
	f    *os.File
	done map[string]Outcome
}

// openJournal opens the results file at path, creating it with a header
// for setup, or reads the outcomes it holds when its header matches.
func openJournal(path string, setup any) (*journal, error) {
	head, err := json.Marshal(journalHeader{Format: journalFormat, Setup: setup})
	if err != nil {
		return nil, fmt.Errorf("evaluate: results header: %w", err)
	}
	head = append(head, '\n')
	j := &journal{path: path, done: map[string]Outcome{}}
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		if err := atomicfile.WriteBytes(path, head); err != nil {
			return nil, fmt.Errorf("evaluate: %w", err)
		}
	} else if err := j.read(head); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return nil, fmt.Errorf("evaluate: results file: %w", err)
	}
	j.f = f
	return j, nil
}

// read loads the outcomes of the file, checking its header against head
// and cutting off a torn last line.
func (j *journal) read(head []byte) error {
	data, err := os.ReadFile(j.path)
	if err != nil {
		return fmt.Errorf("evaluate: results file: %w", err)
	}
	if !bytes.HasPrefix(data, head) {
		return fmt.Errorf("%w: %s holds the retrainings of another setup "+
			"(its first line differs from %s); use another output folder",
			ErrJournal, j.path, bytes.TrimSpace(head))
	}
	good, err := j.parse(data, len(head))
	if err != nil {
		return err
	}
	if good < len(data) {
		if err := os.Truncate(j.path, int64(good)); err != nil {
			return fmt.Errorf("evaluate: cutting a torn line off %s: %w", j.path, err)
		}
	}
	return nil
}

// parse reads the outcome lines of data from offset off and returns the
// end of the last whole line.
func (j *journal) parse(data []byte, off int) (int, error) {
	r := bufio.NewReader(bytes.NewReader(data[off:]))
	line := 1
	for {
		text, err := r.ReadBytes('\n')
		line++
		if err == io.EOF {
			return off, nil // a torn last line, or none
		}
		var o Outcome
		if jerr := json.Unmarshal(text, &o); jerr != nil || o.Key == "" {
			return 0, fmt.Errorf("%w: %s:%d: not an outcome: %.60q",
				ErrJournal, j.path, line, text)
		}
		j.done[o.Key] = o
		off += len(text)
	}
}

// add appends o to the file and syncs it.
func (j *journal) add(o Outcome) error {
	line, err := json.Marshal(o)
	if err != nil {
		return fmt.Errorf("evaluate: outcome %s: %w", o.Key, err)
	}
	if _, err := j.f.Write(append(line, '\n')); err != nil {
		return fmt.Errorf("evaluate: appending to %s: %w", j.path, err)
	}
	if err := j.f.Sync(); err != nil {
		return fmt.Errorf("evaluate: syncing %s: %w", j.path, err)
	}
	j.done[o.Key] = o
	return nil
}

// close closes the file.
func (j *journal) close() error {
	if err := j.f.Close(); err != nil {
		return fmt.Errorf("evaluate: closing %s: %w", j.path, err)
	}
	return nil
}
