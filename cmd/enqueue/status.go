package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spmsg/spmsg/internal/cli"
	"github.com/spmsg/spmsg/jobstate"
)

const statusUsage = `Usage: enqueue status JOB_ID [--json]
       enqueue status --campaign NAME [--json]

Shows a job's state and final outcome (with Amazon's code and message), or a
campaign's counts by outcome and by reason and its failed and unconfirmed
jobs. Records are kept 30 days after a job ends.

Examples:
  enqueue status j_3f2a...
  enqueue status --campaign black-friday --json

Flags:
`

// runStatus shows a job's record or a campaign's report.
func runStatus(ctx context.Context, args []string, getenv cli.Getenv, stdout, stderr io.Writer) error {
	var c common
	var campaign string
	var asJSON bool
	var limit int
	fs := flag.NewFlagSet("enqueue status", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, statusUsage); fs.PrintDefaults() }
	c.flags(fs, getenv)
	fs.StringVar(&campaign, "campaign", "", "campaign name")
	fs.BoolVar(&asJSON, "json", false, "print JSON")
	fs.IntVar(&limit, "problems", 100, "list at most this many failed/unconfirmed jobs")
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return err
		}
		return &exitError{code: 2}
	}
	if (campaign == "") == (fs.NArg() != 1) || fs.NArg() > 1 {
		return usageErr("give one JOB_ID or --campaign NAME")
	}
	a, err := c.open(ctx, false)
	if err != nil {
		return err
	}
	defer a.close()
	if campaign != "" {
		return showCampaign(ctx, stdout, a.outcomes, campaign, limit, asJSON)
	}
	return showJob(ctx, stdout, a.outcomes, fs.Arg(0), asJSON)
}

// showCampaign prints the report of the named campaign, listing at most
// limit problem jobs.
func showCampaign(ctx context.Context, w io.Writer, outcomes *jobstate.OutcomeStore, name string, limit int, asJSON bool) error {
	rep, err := outcomes.Campaign(ctx, name, limit)
	if err != nil {
		return err
	}
	if asJSON {
		return json.NewEncoder(w).Encode(rep)
	}
	printCampaign(w, rep)
	return nil
}

// showJob prints the record of job id.
func showJob(ctx context.Context, w io.Writer, outcomes *jobstate.OutcomeStore, id string, asJSON bool) error {
	rec, err := outcomes.Get(ctx, id)
	if errors.Is(err, jobstate.ErrNoRecord) {
		return &exitError{code: 1, msg: fmt.Sprintf("job %s: not found (never enqueued here, or its 30-day record expired)", id)}
	}
	if err != nil {
		return err
	}
	if asJSON {
		return json.NewEncoder(w).Encode(rec)
	}
	return printRecord(w, rec)
}

// printRecord prints a job's record as a table, leaving out empty fields.
func printRecord(w io.Writer, rec *jobstate.Record) error {
	tw := tabwriter.NewWriter(w, 0, 2, 2, ' ', 0)
	row := func(k, v string) {
		if v != "" {
			fmt.Fprintf(tw, "%s:\t%s\n", k, v)
		}
	}
	row("job", rec.ID)
	row("state", rec.State)
	row("outcome", string(rec.Outcome))
	row("reason", string(rec.Reason))
	row("code", rec.Code)
	row("message", rec.Message)
	row("amazon request id", rec.RequestID)
	row("seller", rec.SellerID)
	row("order", rec.OrderID)
	row("type", rec.Type)
	row("campaign", rec.Campaign)
	if !rec.EnqueuedAt.IsZero() {
		row("enqueued", rec.EnqueuedAt.Format("2006-01-02 15:04:05Z07:00"))
	}
	if !rec.FinishedAt.IsZero() {
		row("finished", rec.FinishedAt.Format("2006-01-02 15:04:05Z07:00"))
	}
	return tw.Flush()
}

func printCampaign(w io.Writer, rep *jobstate.CampaignReport) {
	tw := tabwriter.NewWriter(w, 0, 2, 2, ' ', 0)
	fmt.Fprintf(tw, "campaign:\t%s\n", rep.Campaign)
	fmt.Fprintf(tw, "total:\t%d\n", rep.Total)
	fmt.Fprintf(tw, "pending:\t%d\n", rep.Pending)
	for _, o := range jobstate.Outcomes() {
		fmt.Fprintf(tw, "%s:\t%d\n", o, rep.Outcomes[o])
	}
	if len(rep.Reasons) > 0 {
		fmt.Fprintln(tw, "\nby reason:")
		keys := make([]string, 0, len(rep.Reasons))
		for k := range rep.Reasons {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			o, r, _ := strings.Cut(k, ":")
			fmt.Fprintf(tw, "  %s\t%s\t%d\n", o, r, rep.Reasons[k])
		}
	}
	if len(rep.Problems) > 0 {
		fmt.Fprintln(tw, "\nfailed and unconfirmed jobs:")
		for _, p := range rep.Problems {
			fmt.Fprintf(tw, "  %s\t%s\t%s %s\t%s\t%s\n", p.ID, p.Outcome, p.OrderID, p.Type, p.Code, p.Message)
		}
	}
	_ = tw.Flush()
}
