package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/spmsg/spmsg/internal/cli"
	"github.com/spmsg/spmsg/tasks"
)

const sendUsage = `Usage: enqueue send --seller ID --marketplace ID --order ID --type TYPE [flags]

Enqueues one message job and prints its job id. A job that is already
queued, already finished, or already in the dedup ledger is reported as a
duplicate (exit code 0), naming the job it duplicates. An idempotency key
already used with a different message is an error (exit code 2).

--attach takes any local file you can read (you are at the terminal); the
file is copied into the attachment store. (Rows of "enqueue batch" are
confined to the batch file's folder or --files-dir.)

Examples:
  enqueue send --seller A1EXAMPLE --marketplace ATVPDKIKX0DER \
    --order 112-1234567-1234567 --type invoice --attach ./invoice-1234.pdf
  enqueue send --seller A1EXAMPLE --marketplace ATVPDKIKX0DER \
    --order 112-1234567-1234567 --type confirmOrderDetails \
    --text "Which colour would you like?" --idempotency-key order-1234-colour
  enqueue send --seller A1EXAMPLE --marketplace ATVPDKIKX0DER \
    --order 112-1234567-1234567 --type requestReview --delivered-at 2026-11-20T15:00:00Z

Flags:
`

type attachFlag []string

func (a *attachFlag) String() string     { return strings.Join(*a, ",") }
func (a *attachFlag) Set(v string) error { *a = append(*a, v); return nil }

// runSend enqueues one message job given by flags and prints the result.
func runSend(ctx context.Context, args []string, getenv cli.Getenv, stdout, stderr io.Writer) error {
	var c common
	j, asJSON, err := parseSend(&c, args, getenv, stderr)
	if err != nil {
		return err
	}
	a, err := c.open(ctx, true)
	if err != nil {
		return err
	}
	defer a.close()
	if err := a.producer.Validation.Validate(j); err != nil {
		return usageErr("%v", err)
	}
	r := tasks.AttachmentResolver{Store: a.store, LocalFiles: true}
	if ps := r.ResolveJob(ctx, j); len(ps) > 0 {
		return usageErr("%v", (&tasks.ValidationError{Problems: ps}).Error())
	}
	res, err := a.producer.Enqueue(ctx, j)
	if err != nil {
		if _, ok := err.(*tasks.ValidationError); ok {
			return usageErr("%v", err)
		}
		return err
	}
	return printSend(stdout, res, asJSON)
}

// parseSend parses send's flags into c and the job they give.
func parseSend(c *common, args []string, getenv cli.Getenv, stderr io.Writer) (*tasks.Job, bool, error) {
	var attach attachFlag
	var asJSON bool
	fs := flag.NewFlagSet("enqueue send", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, sendUsage); fs.PrintDefaults() }
	c.flags(fs, getenv)
	f := jobFlags(fs)
	fs.Var(&attach, "attach", "attachment FILE[:NAME]: a local file (copied into the attachment store), a store path or s3://bucket/key; repeatable")
	fs.BoolVar(&asJSON, "json", false, "print the result as JSON")
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return nil, false, err
		}
		return nil, false, &exitError{code: 2}
	}
	if fs.NArg() > 0 {
		return nil, false, usageErr("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	fields := map[string]string{}
	for k, v := range f {
		fields[k] = *v
	}
	j, ps := tasks.ParseJobFields(fields)
	if len(ps) > 0 {
		return nil, false, usageErr("%v", (&tasks.ValidationError{Problems: ps}).Error())
	}
	for _, a := range attach {
		src, name := splitAttach(a)
		j.Attachments = append(j.Attachments, tasks.Attachment{Source: src, FileName: name})
	}
	return j, asJSON, nil
}

// jobFlags defines a flag for each job field on fs and returns the values
// by job field name.
func jobFlags(fs *flag.FlagSet) map[string]*string {
	f := map[string]*string{}
	for _, d := range []struct{ name, field, usage string }{
		{"seller", "seller_id", "selling partner id (in the sellers file)"},
		{"marketplace", "marketplace_id", "marketplace id, e.g. ATVPDKIKX0DER"},
		{"order", "order_id", "Amazon order id, 3-7-7 digits"},
		{"type", "type", "message type, e.g. invoice, confirmOrderDetails, negativeFeedbackRemoval"},
		{"text", "text", "message text (types that take text)"},
		{"campaign", "campaign", "campaign name, for pacing and reporting"},
		{"idempotency-key", "idempotency_key", "same key, same seller: at most one send, ever"},
		{"not-before", "not_before", "RFC 3339 time before which the job is not sent"},
		{"deadline", "deadline", "RFC 3339 time after which the job ends as expired"},
		{"coverage-start", "coverage_start", "warranty coverage start (RFC 3339)"},
		{"coverage-end", "coverage_end", "warranty coverage end (RFC 3339)"},
		{"delivered-at", "delivered_at", "review requests: the order's delivery (RFC 3339); sent 5 to 30 days after it"},
		{"delivery-start", "delivery_start", "review requests: the earliest delivery date (RFC 3339), with --delivery-end"},
		{"delivery-end", "delivery_end", "review requests: the latest delivery date (RFC 3339), with --delivery-start"},
	} {
		f[d.field] = fs.String(d.name, "", d.usage)
	}
	return f
}

// printSend prints the result of enqueueing a job, as JSON when asJSON;
// an idempotency conflict is an error (exit code 2) either way.
func printSend(w io.Writer, res tasks.EnqueueResult, asJSON bool) error {
	if asJSON {
		if err := json.NewEncoder(w).Encode(res); err != nil {
			return err
		}
		if res.Conflict {
			return &exitError{code: 2}
		}
		return nil
	}
	if res.Conflict {
		return usageErr("idempotency_key: %s", res.Reason)
	}
	if res.Status == tasks.StatusDuplicate {
		fmt.Fprintf(w, "%s\tduplicate of %s: %s\n", res.ID, res.DuplicateOf, res.Reason)
		return nil
	}
	fmt.Fprintln(w, res.ID)
	return nil
}

// splitAttach splits FILE[:NAME]; an s3:// URL's own colon is not a split.
func splitAttach(v string) (string, string) {
	rest, prefix := v, ""
	if strings.HasPrefix(v, "s3://") {
		prefix, rest = "s3://", v[5:]
	}
	if i := strings.LastIndex(rest, ":"); i > 0 && !strings.ContainsAny(rest[i+1:], `/\`) {
		return prefix + rest[:i], rest[i+1:]
	}
	return v, ""
}
