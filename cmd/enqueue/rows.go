package main

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spmsg/spmsg/tasks"
)

// maxLine bounds one JSONL row (a job with 5 attachments and 2,000
// characters of text is far below it).
const maxLine = 1 << 20

// rowFunc receives one row: its line number (the first line of a CSV
// record) and either the parsed job or its problems, each naming a field.
type rowFunc func(line int, j *tasks.Job, ps []tasks.FieldError) error

// each calls fn for every row with its line number and either the parsed
// job or its parse problems. It streams: one row in memory at a time.
func (in *input) each(fn rowFunc) error {
	in.counter = &countingReader{r: in.f}
	return readRows(in.counter, in.format, fn)
}

// readRows reads rows of format "csv" or "jsonl" from r and calls fn for
// each. A problem with one row goes to fn; an error that stops the reading
// (a bad CSV header, an over-long line) names its line.
func readRows(r io.Reader, format string, fn rowFunc) error {
	if format == "csv" {
		return readCSV(r, fn)
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), maxLine)
	line := 0
	for sc.Scan() {
		line++
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		if line == 1 {
			b = bytes.TrimPrefix(b, []byte("\ufeff"))
		}
		j, ps := tasks.ParseJobJSON(b)
		if err := fn(line, j, named(ps, "json")); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return usageErr("line %d: longer than %d bytes", line+1, maxLine)
		}
		return fmt.Errorf("line %d: %w", line+1, err)
	}
	return nil
}

// readCSV reads CSV rows: a header of job field names, then one job a
// record.
func readCSV(in io.Reader, fn rowFunc) error {
	r := csv.NewReader(in)
	r.FieldsPerRecord = -1
	r.ReuseRecord = true
	header, err := r.Read()
	if errors.Is(err, io.EOF) {
		return nil
	}
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return usageErr("line %d: bad CSV header: %v", pe.StartLine, pe.Err)
	}
	if err != nil {
		return fmt.Errorf("line 1: %w", err)
	}
	// Blank lines before the header are skipped by the reader.
	hline, _ := r.FieldPos(0)
	known := map[string]bool{}
	for _, f := range tasks.JobFields {
		known[f] = true
	}
	cols := make([]string, len(header))
	for i, h := range header {
		h = strings.TrimSpace(strings.TrimPrefix(h, "\ufeff"))
		if !known[h] {
			return usageErr("line %d: unknown CSV column %q (known: %s)", hline, h, strings.Join(tasks.JobFields, ", "))
		}
		if slices.Contains(cols[:i], h) {
			return usageErr("line %d: CSV column %q appears twice", hline, h)
		}
		cols[i] = h
	}
	last := hline // the line of the last record read
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			if errors.As(err, &pe) {
				if ferr := fn(pe.StartLine, nil, []tasks.FieldError{{Field: "csv", Reason: pe.Err.Error()}}); ferr != nil {
					return ferr
				}
				continue
			}
			return fmt.Errorf("after line %d: %w", last, err)
		}
		line, _ := r.FieldPos(0)
		last = line
		if len(rec) == 1 && strings.TrimSpace(rec[0]) == "" {
			continue
		}
		if len(rec) != len(cols) {
			if err := fn(line, nil, []tasks.FieldError{{Field: "csv", Reason: fmt.Sprintf("%d fields, the header has %d", len(rec), len(cols))}}); err != nil {
				return err
			}
			continue
		}
		fields := make(map[string]string, len(cols))
		for i, c := range cols {
			fields[c] = rec[i]
		}
		j, ps := tasks.ParseJobFields(fields)
		if err := fn(line, j, named(ps, "csv")); err != nil {
			return err
		}
	}
}

// named gives a problem that names no field (a JSON object's "" key) the
// field whole, so that every problem a row reports names one.
func named(ps []tasks.FieldError, whole string) []tasks.FieldError {
	for i := range ps {
		if ps[i].Field == "" {
			ps[i].Field = whole
		}
	}
	return ps
}
