package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/spmsg/spmsg/internal/cli"
	"github.com/spmsg/spmsg/spapi"
	"github.com/spmsg/spmsg/tasks"
)

const batchUsage = `Usage: enqueue batch FILE [flags]

Reads message jobs from FILE (.jsonl: one JSON object a line; .csv: a header
row with the job field names; - reads stdin), validates every row with the
worker's own validation, reports each bad row with its line number, field and
reason, and enqueues the good rows. Bad rows never stop good ones unless
--strict. Jobs join their seller's line; workers release each seller's jobs
as its quota allows, so a large file neither floods the queue nor churns in
Redis. The command returns as soon as the jobs are queued.

Rows without a campaign get --campaign, or the file's base name (stdin:
"stdin-DATE"). That default campaign labels reports only: it is not part of
the job id, so the same rows from a renamed file or another day's stdin are
duplicates; a new --campaign (or campaign field) makes them new jobs.

CSV attachments: a JSON array, or "source|file_name" items separated by ";".
An attachment source is a path in the attachment store, s3://bucket/key
(inside the store's bucket/prefix or ATTACHMENT_S3_ALLOW), or a local file,
which is copied into the store. Local files must lie under the batch file's
folder, or under --files-dir DIR: absolute paths and paths leading out of
it (.., symbolic links) are rejected. Rows from stdin name local files only
with --files-dir.

Exit codes: 0 every row accepted or a duplicate; 2 some row rejected (the
good rows are still queued unless --strict); 1 runtime error.

Examples:
  enqueue batch campaign.jsonl
  enqueue batch orders.csv --campaign spring-invoices --json
  cat jobs.jsonl | enqueue batch - --dry-run

Flags:
`

// batchOpts are the batch command's settings.
type batchOpts struct {
	common
	dryRun, strict, asJSON, noProgress bool
	campaign, format, filesDir         string
	workers                            int
	// autoCampaign is set when campaign is the default batch chose (the
	// file name), not the user's.
	autoCampaign bool
}

// rejection is one bad row, as printed and as in --json.
type rejection struct {
	Line   int    `json:"line"`
	Field  string `json:"field"`
	Reason string `json:"reason"`
}

// batchSummary is the --json output.
type batchSummary struct {
	Campaign   string      `json:"campaign"`
	Rows       int         `json:"rows"`
	Accepted   int         `json:"accepted"`
	Duplicates int         `json:"duplicates"`
	Rejected   []rejection `json:"rejected"`
	DryRun     bool        `json:"dry_run,omitempty"`
	// Duplicated lists each duplicate row and the job it duplicates.
	Duplicated []duplicate `json:"duplicated,omitempty"`
	// Warnings lists accepted rows that may not do what was meant: review
	// requests without a delivery date.
	Warnings []rejection `json:"warnings,omitempty"`
}

type duplicate struct {
	Line        int    `json:"line"`
	DuplicateOf string `json:"duplicate_of"`
	Reason      string `json:"reason"`
}

func runBatch(ctx context.Context, args []string, getenv cli.Getenv, stdin io.Reader, stdout, stderr io.Writer) error {
	var o batchOpts
	fs := flag.NewFlagSet("enqueue batch", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, batchUsage); fs.PrintDefaults() }
	o.common.flags(fs, getenv)
	fs.BoolVar(&o.dryRun, "dry-run", false, "validate only; enqueue nothing")
	fs.BoolVar(&o.strict, "strict", false, "refuse the whole file if any row is bad")
	fs.BoolVar(&o.asJSON, "json", false, "print one JSON object at the end: accepted, duplicates, rejected [{line, field, reason}]")
	fs.BoolVar(&o.noProgress, "no-progress", false, "no progress output")
	fs.StringVar(&o.campaign, "campaign", "", "campaign for rows that name none (default: the file's base name, which is then not part of the job id)")
	fs.StringVar(&o.filesDir, "files-dir", "", "directory that local attachment files must lie under (default: the batch file's folder; stdin: none, so no local files)")
	fs.StringVar(&o.format, "format", "", "jsonl or csv (default: from the file extension; stdin: sniffed)")
	fs.IntVar(&o.workers, "workers", 16, "parallel enqueuers")
	// Accept flags after the file name too.
	var pos []string
	rest := args
	for len(rest) > 0 {
		if err := fs.Parse(rest); err != nil {
			if err == flag.ErrHelp {
				return err
			}
			return &exitError{code: 2}
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		rest = fs.Args()[1:]
	}
	if len(pos) != 1 {
		return usageErr("give exactly one FILE (or - for stdin)")
	}
	if o.workers < 1 {
		o.workers = 1
	}
	return o.run(ctx, pos[0], stdin, stdout, stderr)
}

func (o *batchOpts) run(ctx context.Context, path string, stdin io.Reader, stdout, stderr io.Writer) error {
	src, err := openInput(path, stdin, o.format)
	if err != nil {
		return err
	}
	defer src.close()
	if o.campaign == "" {
		o.campaign, o.autoCampaign = src.defaultCampaign, true
	}
	resolver, err := o.resolver(path)
	if err != nil {
		return err
	}
	a, err := o.common.open(ctx, true)
	if err != nil {
		return err
	}
	defer a.close()
	resolver.Store = a.store
	b := &batch{opts: o, app: a, resolver: resolver, progress: newProgress(stderr, src.size, o.noProgress || o.asJSON)}
	b.sum.Campaign = o.campaign
	b.sum.DryRun = o.dryRun
	b.sum.Rejected = []rejection{}

	if o.strict && !o.dryRun {
		// Validate the whole file first; enqueue only if every row is good.
		if err := b.pass(ctx, src, false); err != nil {
			return err
		}
		if len(b.sum.Rejected) > 0 {
			b.progress.finish()
			return b.report(stdout, stderr, "refused (--strict): nothing enqueued")
		}
		if err := src.rewind(); err != nil {
			return err
		}
		b.sum.Rows = 0
		b.sum.Warnings = nil
		b.progress = newProgress(stderr, src.size, o.noProgress || o.asJSON)
	}
	if err := b.pass(ctx, src, !o.dryRun); err != nil {
		return err
	}
	b.progress.finish()
	return b.report(stdout, stderr, "")
}

// resolver returns the attachment resolver (without its store) for rows
// read from path: local files only under --files-dir or the file's folder,
// and none from stdin without --files-dir.
func (o *batchOpts) resolver(path string) (tasks.AttachmentResolver, error) {
	dir := o.filesDir
	if dir != "" {
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
			return tasks.AttachmentResolver{}, usageErr("--files-dir %q is not a directory", dir)
		}
	} else if path != "-" {
		dir = filepath.Dir(path)
	}
	if dir == "" {
		return tasks.AttachmentResolver{NoLocalHint: "rows read from stdin name local files only with --files-dir DIR"}, nil
	}
	return tasks.AttachmentResolver{LocalFiles: true, LocalDir: dir}, nil
}

// batch is one run of the batch command.
type batch struct {
	opts     *batchOpts
	app      *app
	resolver tasks.AttachmentResolver
	progress *progress

	mu  sync.Mutex
	sum batchSummary
}

type item struct {
	line int
	job  *tasks.Job
}

// pass reads every row; when enqueue is true the good rows are enqueued by
// a pool of workers as they are read (constant memory).
func (b *batch) pass(ctx context.Context, src *input, enqueue bool) error {
	work := make(chan item, b.opts.workers*4)
	var wg sync.WaitGroup
	var fatal error
	var fatalOnce sync.Once
	for i := 0; i < b.opts.workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for it := range work {
				if !enqueue {
					continue
				}
				if err := b.enqueue(ctx, it); err != nil {
					fatalOnce.Do(func() { fatal = err })
				}
			}
		}()
	}
	err := src.each(func(line int, j *tasks.Job, ps []tasks.FieldError) error {
		b.progress.set(src.offset())
		return b.row(ctx, work, enqueue, item{line: line, job: j}, ps)
	})
	close(work)
	wg.Wait()
	if err != nil {
		return err
	}
	return fatal
}

// enqueue enqueues a good row and records its outcome; it returns only runtime errors.
func (b *batch) enqueue(ctx context.Context, it item) error {
	res, err := b.app.producer.Enqueue(ctx, it.job)
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case err != nil:
		ve, ok := err.(*tasks.ValidationError)
		if !ok {
			return fmt.Errorf("line %d: %w", it.line, err)
		}
		for _, p := range ve.Problems {
			b.sum.Rejected = append(b.sum.Rejected, rejection{Line: it.line, Field: p.Field, Reason: p.Reason})
		}
	case res.Conflict:
		b.sum.Rejected = append(b.sum.Rejected, rejection{Line: it.line, Field: "idempotency_key", Reason: res.Reason})
	case res.Status == tasks.StatusDuplicate:
		b.sum.Duplicates++
		b.sum.Duplicated = append(b.sum.Duplicated, duplicate{Line: it.line, DuplicateOf: res.DuplicateOf, Reason: res.Reason})
	default:
		b.sum.Accepted++
	}
	return nil
}

// row counts and checks a row as read (ps: its parse problems); a good row
// goes to the enqueuers on work, or counts as accepted on a dry run.
func (b *batch) row(ctx context.Context, work chan<- item, enqueue bool, it item, ps []tasks.FieldError) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	b.mu.Lock()
	b.sum.Rows++
	b.mu.Unlock()
	if len(ps) == 0 {
		ps = b.check(ctx, it)
	}
	if len(ps) > 0 {
		b.mu.Lock()
		for _, p := range ps {
			b.sum.Rejected = append(b.sum.Rejected, rejection{Line: it.line, Field: p.Field, Reason: p.Reason})
		}
		b.mu.Unlock()
		return nil
	}
	if !enqueue {
		if b.opts.dryRun {
			b.mu.Lock()
			b.sum.Accepted++
			b.mu.Unlock()
		}
		return nil
	}
	select {
	case work <- it:
	case <-ctx.Done():
		return ctx.Err()
	}
	return nil
}

// check fills in the batch's campaign, validates the row and warns of an undated review request.
func (b *batch) check(ctx context.Context, it item) []tasks.FieldError {
	if it.job.Campaign == "" {
		it.job.Campaign, it.job.AutoCampaign = b.opts.campaign, b.opts.autoCampaign
	}
	ps := b.validate(ctx, it.job)
	if len(ps) == 0 && isUndatedReview(it.job) {
		b.mu.Lock()
		b.sum.Warnings = append(b.sum.Warnings, rejection{Line: it.line, Field: "delivered_at", Reason: undatedReview})
		b.mu.Unlock()
	}
	return ps
}

func (b *batch) validate(ctx context.Context, j *tasks.Job) []tasks.FieldError {
	if err := b.app.producer.Validation.Validate(j); err != nil {
		if ve, ok := err.(*tasks.ValidationError); ok {
			return ve.Problems
		}
		return []tasks.FieldError{{Field: "job", Reason: err.Error()}}
	}
	return b.resolver.ResolveJob(ctx, j)
}

func (b *batch) report(stdout, stderr io.Writer, refused string) error {
	s := &b.sum
	if b.opts.asJSON {
		if err := json.NewEncoder(stdout).Encode(s); err != nil {
			return err
		}
	} else {
		for _, r := range s.Rejected {
			fmt.Fprintf(stderr, "line %d: %s: %s\n", r.Line, r.Field, r.Reason)
		}
		for _, d := range s.Duplicated {
			fmt.Fprintf(stdout, "line %d: duplicate of %s: %s\n", d.Line, d.DuplicateOf, d.Reason)
		}
		for i, w := range s.Warnings {
			if i == maxWarningsShown {
				fmt.Fprintf(stderr, "... and %d more rows with that warning (--json lists them all)\n", len(s.Warnings)-i)
				break
			}
			fmt.Fprintf(stderr, "line %d: warning: %s: %s\n", w.Line, w.Field, w.Reason)
		}
		verb := "accepted"
		if s.DryRun {
			verb = "valid (dry run, nothing enqueued)"
		}
		if refused != "" {
			verb = "valid; " + refused
		}
		fmt.Fprintf(stdout, "campaign %s: %d rows, %d %s, %d duplicates, %d rejected rows (%d problems)\n",
			s.Campaign, s.Rows, s.Accepted, verb, s.Duplicates, rejectedRows(s.Rejected), len(s.Rejected))
	}
	if len(s.Rejected) > 0 {
		return errRejected
	}
	return nil
}

// undatedReview warns about a review request that carries no delivery date.
const undatedReview = "review request without delivered_at (or delivery_start and delivery_end): it is sent whenever Amazon offers it, not held until 5 days after delivery, and skipped if Amazon does not offer it yet"

// maxWarningsShown bounds the warnings printed as text.
const maxWarningsShown = 20

// isUndatedReview reports a review request without a delivery date.
func isUndatedReview(j *tasks.Job) bool {
	t, ok := spapi.LookupType(j.Type)
	return ok && t.API == spapi.APISolicitations && j.DeliveredAt == nil && j.DeliveryStart == nil && j.DeliveryEnd == nil
}

func rejectedRows(rs []rejection) int {
	seen := map[int]bool{}
	for _, r := range rs {
		seen[r.Line] = true
	}
	return len(seen)
}

// input is a batch file being read.
type input struct {
	f               *os.File
	tmp             string
	format          string
	size            int64
	counter         *countingReader
	defaultCampaign string
}

func openInput(path string, stdin io.Reader, format string) (*input, error) {
	in := &input{format: strings.ToLower(format)}
	if path == "-" {
		// Spool stdin so --strict can read it twice and the format can be
		// sniffed; the spool is a temp file, not memory.
		f, err := os.CreateTemp("", "spmsg-batch-*")
		if err != nil {
			return nil, err
		}
		in.tmp = f.Name()
		if _, err := io.Copy(f, stdin); err != nil {
			return nil, err
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return nil, err
		}
		in.f = f
		in.defaultCampaign = "stdin-" + time.Now().UTC().Format("20060102")
	} else {
		f, err := os.Open(path)
		if err != nil {
			return nil, usageErr("%v", err)
		}
		in.f = f
		base := filepath.Base(path)
		in.defaultCampaign = strings.TrimSuffix(base, filepath.Ext(base))
		if in.format == "" {
			switch strings.ToLower(filepath.Ext(path)) {
			case ".jsonl", ".ndjson", ".json":
				in.format = "jsonl"
			case ".csv":
				in.format = "csv"
			}
		}
	}
	if fi, err := in.f.Stat(); err == nil {
		in.size = fi.Size()
	}
	if in.format == "" {
		head := make([]byte, 512)
		n, _ := in.f.Read(head)
		if strings.HasPrefix(strings.TrimSpace(string(head[:n])), "{") {
			in.format = "jsonl"
		} else {
			in.format = "csv"
		}
		if _, err := in.f.Seek(0, io.SeekStart); err != nil {
			return nil, err
		}
	}
	if in.format != "jsonl" && in.format != "csv" {
		return nil, usageErr("--format %q: want jsonl or csv", format)
	}
	return in, nil
}

func (in *input) rewind() error {
	_, err := in.f.Seek(0, io.SeekStart)
	return err
}

func (in *input) offset() int64 {
	if in.counter == nil {
		return 0
	}
	return in.counter.n
}

func (in *input) close() {
	_ = in.f.Close()
	if in.tmp != "" {
		_ = os.Remove(in.tmp)
	}
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
