package tasks

import (
	"context"
	"errors"
	"time"

	"github.com/spmsg/spmsg/attachstore"
	"github.com/spmsg/spmsg/dispatch"
	"github.com/spmsg/spmsg/spapi"
)

// uploadAll reads, checks and uploads the job's attachments for this
// order's exact send operation. It returns nil attachments (and nil error)
// when it has already finished the job with an outcome.
func (r *run) uploadAll(ctx context.Context) ([]spapi.Attachment, error) {
	h, j := r.h, r.job
	refs := make([]string, len(j.Attachments))
	for i, a := range j.Attachments {
		refs[i] = a.Source
	}
	prepared, err := attachstore.PrepareAll(ctx, h.Store, refs)
	if err != nil {
		if errors.Is(err, attachstore.ErrNotFound) || errors.Is(err, attachstore.ErrInvalidRef) ||
			errors.Is(err, attachstore.ErrTooLarge) || errors.Is(err, attachstore.ErrNotAllowed) {
			return nil, r.finish(ctx, Result{Outcome: OutcomeFailed, Reason: "attachment_invalid", Message: err.Error()})
		}
		return nil, r.transient(ctx, "attachment_read", err)
	}
	defer func() { _ = attachstore.CloseAll(prepared) }()

	upKey := dispatch.Key{Seller: j.SellerID, Operation: spapi.OpCreateUploadDestinationForResource}
	resource := r.typ.UploadResource(j.OrderID)
	out := make([]spapi.Attachment, len(prepared))
	for i, p := range prepared {
		// Uploads are not released from a line: book the slot now (10/s,
		// burst 10: rarely a wait).
		wait, err := h.Lines.Reserve(ctx, j.SellerID, upKey.Operation)
		if err != nil {
			return nil, err
		}
		if err := r.waitQuota(ctx, wait); err != nil {
			return nil, err
		}
		t0 := time.Now()
		dest, resp, err := h.Amazon.CreateUploadDestination(ctx, j.SellerID, resource, j.MarketplaceID, p.ContentMD5, p.MIME)
		h.Metrics.call(spapi.OpCreateUploadDestinationForResource, t0, resp, err)
		r.observe(ctx, upKey, resp, err)
		if err != nil {
			if spapi.IsOutcomeUnknown(err) {
				// Creating a destination twice is harmless: retry.
				return nil, r.transient(ctx, "upload_destination", err)
			}
			return nil, r.amazonError(ctx, "upload_destination", upKey, err)
		}
		t0 = time.Now()
		err = h.Amazon.Upload(ctx, dest, p.Body(), p.Size)
		h.Metrics.call("upload", t0, nil, err)
		if err != nil {
			var e *spapi.Error
			if errors.As(err, &e) && e.StatusCode >= 400 && e.StatusCode < 500 && e.StatusCode != 429 {
				return nil, r.finish(ctx, amazonResult(OutcomeFailed, "upload_rejected", err))
			}
			return nil, r.transient(ctx, "upload", err)
		}
		out[i] = spapi.Attachment{UploadDestinationID: dest.ID, FileName: j.Attachments[i].FileName}
	}
	return out, nil
}
