package main

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spmsg/spmsg/tasks"
)

// maxLine bounds one JSONL row (a job with 5 attachments and 2,000
// characters of text is far below it).
const maxLine = 1 << 20

// each calls fn for every row with its line number and either the parsed
// job or its parse problems. It streams: one row in memory at a time.
func (in *input) each(fn func(line int, j *tasks.Job, ps []tasks.FieldError) error) error {
	in.counter = &countingReader{r: in.f}
	if in.format == "csv" {
		return in.eachCSV(fn)
	}
	sc := bufio.NewScanner(in.counter)
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
		if err := fn(line, j, ps); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return usageErr("line %d: longer than %d bytes", line+1, maxLine)
		}
		return err
	}
	return nil
}

func (in *input) eachCSV(fn func(line int, j *tasks.Job, ps []tasks.FieldError) error) error {
	r := csv.NewReader(in.counter)
	r.FieldsPerRecord = -1
	r.ReuseRecord = true
	header, err := r.Read()
	if errors.Is(err, io.EOF) {
		return nil
	}
	if err != nil {
		return usageErr("line 1: bad CSV header: %v", err)
	}
	known := map[string]bool{}
	for _, f := range tasks.JobFields {
		known[f] = true
	}
	cols := make([]string, len(header))
	for i, h := range header {
		h = strings.TrimSpace(strings.TrimPrefix(h, "\ufeff"))
		if !known[h] {
			return usageErr("line 1: unknown CSV column %q (known: %s)", h, strings.Join(tasks.JobFields, ", "))
		}
		cols[i] = h
	}
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		line, _ := r.FieldPos(0)
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				if ferr := fn(pe.StartLine, nil, []tasks.FieldError{{Field: "csv", Reason: pe.Err.Error()}}); ferr != nil {
					return ferr
				}
				continue
			}
			return err
		}
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
		if err := fn(line, j, ps); err != nil {
			return err
		}
	}
}
