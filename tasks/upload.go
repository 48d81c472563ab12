package tasks

import (
	"context"
	"errors"
	"time"

	"github.com/spmsg/spmsg/attachstore"
	"github.com/spmsg/spmsg/dispatch"
	"github.com/spmsg/spmsg/jobstate"
	"github.com/spmsg/spmsg/spapi"
)

// uploadAll reads, checks and uploads the job's attachments for this
// order's exact send operation.
func (a *attempt) uploadAll(ctx context.Context) ([]spapi.Attachment, error) {
	c, j := a.h.c, a.job
	if c.Attachments == nil {
		return nil, end(jobstate.Result{Outcome: jobstate.OutcomeFailed, Reason: jobstate.ReasonAttachmentInvalid,
			Message: "this worker has no attachment store"})
	}
	refs := make([]string, len(j.Attachments))
	for i, at := range j.Attachments {
		refs[i] = at.Source
	}
	prepared, err := attachstore.PrepareAll(ctx, c.Attachments, refs)
	if err != nil {
		if errors.Is(err, attachstore.ErrNotFound) || errors.Is(err, attachstore.ErrInvalidRef) ||
			errors.Is(err, attachstore.ErrTooLarge) || errors.Is(err, attachstore.ErrNotAllowed) {
			return nil, end(jobstate.Result{Outcome: jobstate.OutcomeFailed, Reason: jobstate.ReasonAttachmentInvalid, Message: err.Error()})
		}
		return nil, retry(jobstate.StepAttachmentRead, err)
	}
	defer func() { _ = attachstore.CloseAll(prepared) }()
	out := make([]spapi.Attachment, len(prepared))
	for i, p := range prepared {
		id, err := a.upload(ctx, p)
		if err != nil {
			return nil, err
		}
		out[i] = spapi.Attachment{UploadDestinationID: id, FileName: j.Attachments[i].FileName}
	}
	return out, nil
}

// upload uploads one attachment and returns its upload destination id.
func (a *attempt) upload(ctx context.Context, p *attachstore.Prepared) (string, error) {
	c, j := a.h.c, a.job
	key := dispatch.Key{Seller: j.SellerID, Operation: spapi.OpCreateUploadDestinationForResource}
	// Uploads are not released from a line: book the slot now (10/s,
	// burst 10: rarely a wait).
	wait, err := c.State.Reserve(ctx, j.SellerID, key.Operation)
	if err != nil {
		return "", err
	}
	if err := a.waitQuota(ctx, wait); err != nil {
		return "", err
	}
	t0 := time.Now()
	dest, resp, err := c.Amazon.CreateUploadDestination(ctx, j.SellerID, a.typ.UploadResource(j.OrderID), j.MarketplaceID, p.ContentMD5, p.MIME)
	c.Metrics.call(key.Operation, t0, resp, err)
	a.observe(ctx, key, resp, err)
	if err != nil {
		if spapi.IsOutcomeUnknown(err) {
			// Creating a destination twice is harmless: retry.
			return "", retry(jobstate.StepUploadDestination, err)
		}
		return "", a.amazonError(ctx, jobstate.StepUploadDestination, key, err)
	}
	t0 = time.Now()
	err = c.Amazon.Upload(ctx, dest, p.Body(), p.Size)
	c.Metrics.call("upload", t0, nil, err)
	if err != nil {
		var e *spapi.Error
		if errors.As(err, &e) && e.StatusCode >= 400 && e.StatusCode < 500 && e.StatusCode != 429 {
			return "", end(amazonResult(jobstate.OutcomeFailed, jobstate.ReasonUploadRejected, err))
		}
		return "", retry(jobstate.StepUpload, err)
	}
	return dest.ID, nil
}
