package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spmsg/spmsg/attachstore"
	"github.com/spmsg/spmsg/jobstate"
	"github.com/spmsg/spmsg/sandbox"
	"github.com/spmsg/spmsg/tasks"
)

const demoCampaign = "demo"

// demoOrders configures the sandbox's orders for the demo: one order that
// still offers the removed amazonMotors type, and one that does not offer
// confirmServiceDetails (an unavailable type), and one delivered too long
// ago for a review request (every other order was delivered 10 days before
// the sandbox started, inside Amazon's 5-30 day review window).
func demoOrders() []sandbox.Order {
	return []sandbox.Order{
		{ID: "113-0000000-0000011", Available: []string{"amazonMotors"}},
		{ID: "113-0000000-0000020", Available: []string{"confirmOrderDetails", "sendInvoice"}},
		{ID: "113-0000000-0000031", Delivery: &sandbox.Delivery{Earliest: demoLongAgo()}},
	}
}

// demoLongAgo is the delivery date of the demo's order whose review window
// has closed.
func demoLongAgo() time.Time { return time.Now().UTC().Truncate(time.Hour).AddDate(0, 0, -45) }

// demoJobs is the sample campaign: every message type for the NA seller,
// two review requests (one inside Amazon's window, one after it), a few
// messages for the EU and FE sellers, a planted duplicate and an
// unavailable type.
func demoJobs(attach func(name string) string) []*tasks.Job {
	na, eu, fe := demoSellers[0], demoSellers[1], demoSellers[2]
	j := func(s struct{ id, region, marketplace string }, order, typ, text string, atts ...tasks.Attachment) *tasks.Job {
		return &tasks.Job{SellerID: s.id, MarketplaceID: s.marketplace, OrderID: order, Type: typ, Text: text,
			Attachments: atts, Campaign: demoCampaign}
	}
	a := func(name string) tasks.Attachment { return tasks.Attachment{Source: attach(name), FileName: name} }
	start := time.Now().UTC().Truncate(time.Second)
	end := start.AddDate(2, 0, 0)
	warranty := j(na, "113-0000000-0000006", "warranty", "", a("warranty.pdf"))
	warranty.CoverageStart, warranty.CoverageEnd = &start, &end
	dupFeedback := j(na, "113-0000000-0000010", "updateFeedback", "")
	dupFeedback.IdempotencyKey = "feedback-10-second-try"
	delivered, longAgo := start.AddDate(0, 0, -8), demoLongAgo()
	reviewSent := j(na, "113-0000000-0000030", "requestReview", "")
	reviewSent.DeliveredAt = &delivered // inside the 5-30 day window: sent
	reviewLate := j(na, "113-0000000-0000031", "requestReview", "")
	reviewLate.DeliveredAt = &longAgo // the window closed: expired
	return []*tasks.Job{
		j(na, "113-0000000-0000001", "confirmCustomizationDetails", "Is this the engraving you asked for?", a("engraving.png")),
		j(na, "113-0000000-0000002", "confirmDeliveryDetails", "Which day suits you for the delivery of your sofa?"),
		j(na, "113-0000000-0000003", "legalDisclosure", "", a("disclosure.pdf")),
		j(na, "113-0000000-0000004", "confirmOrderDetails", "Which colour would you like: red or blue?"),
		j(na, "113-0000000-0000005", "confirmServiceDetails", "When can our technician come to install it?"),
		warranty,
		j(na, "113-0000000-0000007", "digitalAccessKey", "Your licence key is in the attached file.", a("licence.txt")),
		j(na, "113-0000000-0000008", "unexpectedProblem", "Your parcel is delayed by two days; sorry for the wait."),
		j(na, "113-0000000-0000009", "invoice", "", a("invoice.pdf")),
		j(na, "113-0000000-0000010", "negativeFeedbackRemoval", ""),
		dupFeedback, // the same once-per-order message again: the ledger stops it
		j(na, "113-0000000-0000011", "amazonMotors", "", a("fitment.txt")),
		j(na, "113-0000000-0000020", "confirmServiceDetails", "When can we come?"), // not offered for this order
		reviewSent, reviewLate, // review requests (Solicitations API)
		j(eu, "302-0000000-0000001", "sendInvoice", "", a("invoice.pdf")),
		j(eu, "302-0000000-0000002", "confirmOrderDetails", "Welche Größe möchten Sie?"),
		j(fe, "503-0000000-0000001", "unexpectedProblem", "お届けが2日遅れます。申し訳ありません。"),
		j(fe, "503-0000000-0000002", "confirmDeliveryDetails", "Which delivery slot suits you?"),
		j(na, "113-0000000-0000004", "confirmOrderDetails", "Which colour would you like: red or blue?"), // planted duplicate
	}
}

// demoFiles are the sample attachments.
func demoFiles() map[string][]byte {
	png := append([]byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"), make([]byte, 64)...)
	pdf := []byte("%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n")
	return map[string][]byte{
		"engraving.png": png, "disclosure.pdf": pdf, "warranty.pdf": pdf, "invoice.pdf": pdf,
		"licence.txt": []byte("LICENCE KEY: DEMO-1234-5678\n"), "fitment.txt": []byte("Fits model years 2019-2024.\n"),
	}
}

// runDemo enqueues the sample campaign, shows progress and prints a summary.
func runDemo(ctx context.Context, w *worker, d *devEnv, stdout io.Writer) error {
	refs, err := putDemoFiles(ctx, w.cfg.AttachmentStore, d.dir)
	if err != nil {
		return err
	}
	accepted, dups, err := enqueueDemo(ctx, w, refs, stdout)
	if err != nil {
		return err
	}
	if err := waitDemo(ctx, w, len(accepted), stdout); err != nil {
		return err
	}
	return printDemoReport(ctx, w, d, accepted, dups, stdout)
}

// putDemoFiles stores the sample attachments (written to dir first) and returns their references.
func putDemoFiles(ctx context.Context, storeURL, dir string) (map[string]string, error) {
	store, err := attachstore.Open(ctx, storeURL)
	if err != nil {
		return nil, err
	}
	refs := map[string]string{}
	for name, b := range demoFiles() {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			return nil, err
		}
		f, err := os.Open(p)
		if err != nil {
			return nil, err
		}
		ref, err := store.Put(ctx, name, f)
		f.Close()
		if err != nil {
			return nil, err
		}
		refs[name] = ref
	}
	return refs, nil
}

// demoRow is a demo job the producer accepted, with its id.
type demoRow struct {
	job *tasks.Job
	id  string
}

// enqueueDemo enqueues the sample jobs and returns those accepted and the number of duplicates.
func enqueueDemo(ctx context.Context, w *worker, refs map[string]string, stdout io.Writer) ([]demoRow, int, error) {
	producer := tasks.NewProducer(w.rdb, w.sellers)
	jobs := demoJobs(func(n string) string { return refs[n] })
	fmt.Fprintf(stdout, "demo: enqueueing %d jobs for %d sellers (campaign %q)\n", len(jobs), len(demoSellers), demoCampaign)
	var accepted []demoRow
	dups := 0
	for _, j := range jobs {
		res, err := producer.Enqueue(ctx, j)
		if err != nil {
			return nil, 0, fmt.Errorf("demo job %s %s: %w", j.OrderID, j.Type, err)
		}
		if res.Status == tasks.StatusDuplicate {
			dups++
			fmt.Fprintf(stdout, "demo: %s %s for %s: duplicate of %s (%s)\n", j.SellerID, j.Type, j.OrderID, res.DuplicateOf, res.Reason)
			continue
		}
		accepted = append(accepted, demoRow{j, res.ID})
	}
	return accepted, dups, nil
}

// waitDemo prints progress until all (at least want) campaign jobs are final, for at most 3 minutes.
func waitDemo(ctx context.Context, w *worker, want int, stdout io.Writer) error {
	deadline := time.Now().Add(3 * time.Minute)
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	last := int64(-1)
	for {
		rep, err := w.outcomes.Campaign(ctx, demoCampaign, 0)
		if err != nil {
			return err
		}
		done := rep.Total - rep.Pending
		if done != last {
			fmt.Fprintf(stdout, "demo: %d/%d jobs final\n", done, rep.Total)
			last = done
		}
		if rep.Pending == 0 && rep.Total >= int64(want) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("demo: %d jobs still pending after 3 minutes", rep.Pending)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// printDemoReport prints each accepted job's outcome and a summary of the campaign and the
// sandbox; it fails if the sandbox saw requests that break Amazon's models.
func printDemoReport(ctx context.Context, w *worker, d *devEnv, accepted []demoRow, dups int, stdout io.Writer) error {
	fmt.Fprintln(stdout, "\nOutcomes")
	tw := tabwriter.NewWriter(stdout, 0, 2, 2, ' ', 0)
	fmt.Fprintln(tw, "seller\torder\ttype\toutcome\treason")
	for _, r := range accepted {
		rec, err := w.outcomes.Get(ctx, r.id)
		if err != nil {
			return err
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.job.SellerID, r.job.OrderID, r.job.Type, rec.Outcome, rec.Reason)
	}
	_ = tw.Flush()
	rep, err := w.outcomes.Campaign(ctx, demoCampaign, 0)
	if err != nil {
		return err
	}
	var parts []string
	for _, o := range jobstate.Outcomes() {
		if n := rep.Outcomes[o]; n > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", o, n))
		}
	}
	sort.Strings(parts)
	st := d.sb.Stats()
	fmt.Fprintf(stdout, "\nSummary: %d jobs accepted, %d refused at enqueue as duplicates; %s\n", rep.Total, dups, strings.Join(parts, ", "))
	fmt.Fprintf(stdout, "Sandbox: %d messages received, %d throttled (429), %d model violations, %d token exchanges\n",
		st.Sent, st.Throttled, st.Violations, st.TokenExchanges)
	fmt.Fprintln(stdout, "Run `go run ./cmd/worker --dev` (without --demo) to keep everything up and enqueue your own jobs.")
	if st.Violations > 0 {
		return fmt.Errorf("demo: the sandbox saw %d requests that break Amazon's models", st.Violations)
	}
	return nil
}
