package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/spmsg/spmsg/attachstore"
	"github.com/spmsg/spmsg/internal/cli"
	"github.com/spmsg/spmsg/jobstate"
	"github.com/spmsg/spmsg/tasks"
)

// common holds the settings every subcommand shares.
type common struct {
	redisURL        string
	sellersFile     string
	attachmentStore string
	s3Allow         string
	// logger, if set, receives what the attachment store keeps out of its
	// errors (S3 failure details); the default is slog's default logger.
	logger *slog.Logger
}

func (c *common) flags(fs *flag.FlagSet, getenv cli.Getenv) {
	cli.StringVar(fs, &c.redisURL, "redis-url", "REDIS_URL", cli.DefaultRedisURL, getenv, "Redis URL")
	cli.StringVar(fs, &c.sellersFile, "sellers-file", "SPAPI_SELLERS_FILE", "", getenv, "sellers file (JSON array: id, refresh_token, region); needed to validate jobs")
	cli.StringVar(fs, &c.attachmentStore, "attachment-store", "ATTACHMENT_STORE", attachstore.DefaultURL, getenv, "attachment store: file:///dir or s3://bucket/prefix")
	cli.StringVar(fs, &c.s3Allow, "attachment-s3-allow", "ATTACHMENT_S3_ALLOW", "", getenv,
		"comma-separated s3://bucket[/prefix] places that s3:// attachment sources may name besides the store's own bucket and prefix")
}

// app is what a producing subcommand needs, opened from common.
type app struct {
	rdb      redis.UniversalClient
	client   *asynq.Client
	sellers  *tasks.Sellers
	store    attachstore.Store
	outcomes *jobstate.OutcomeStore
	ledger   *jobstate.Ledger
	producer *tasks.Producer
}

func (c *common) open(ctx context.Context, needSellers bool) (*app, error) {
	a := &app{}
	if needSellers {
		if c.sellersFile == "" {
			return nil, usageErr("SPAPI_SELLERS_FILE (--sellers-file) is required to validate jobs")
		}
		s, err := tasks.LoadSellersFile(c.sellersFile)
		if err != nil {
			return nil, usageErr("%v", err)
		}
		a.sellers = s
	}
	_, rdb, err := cli.Redis(c.redisURL)
	if err != nil {
		return nil, usageErr("%v", err)
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := rdb.Ping(pctx).Err(); err != nil {
		return nil, fmt.Errorf("cannot reach Redis at %s: %v", cli.Redact(c.redisURL), err)
	}
	a.rdb = rdb
	a.client = asynq.NewClientFromRedisClient(rdb)
	a.outcomes = jobstate.NewOutcomeStore(rdb, "", 0)
	a.ledger = jobstate.NewLedger(rdb, "")
	if needSellers {
		opts := []attachstore.Option{attachstore.WithS3Allow(c.s3Allow)}
		if c.logger != nil {
			opts = append(opts, attachstore.WithLogger(c.logger))
		}
		st, err := attachstore.Open(ctx, c.attachmentStore, opts...)
		if err != nil {
			return nil, usageErr("%v", err)
		}
		a.store = st
		a.producer = tasks.NewProducer(rdb, a.sellers)
	}
	return a, nil
}

func (a *app) close() {
	if a == nil {
		return
	}
	if a.rdb != nil {
		_ = a.rdb.Close()
	}
}

// String describes the settings with the Redis URL's password hidden.
func (c common) String() string {
	return fmt.Sprintf("common{redisURL:%q sellersFile:%q attachmentStore:%q s3Allow:%q}",
		cli.Redact(c.redisURL), c.sellersFile, cli.Redact(c.attachmentStore), cli.Redact(c.s3Allow))
}

// GoString is String, so %#v hides the Redis password too.
func (c common) GoString() string { return c.String() }

// Format prints String for every verb, so no verb (%d, %x, %q, %#v, ...)
// can reach the Redis password through fmt's field-by-field printing.
func (c common) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, c.String()) }

// LogValue implements slog.LogValuer with the Redis password hidden.
func (c common) LogValue() slog.Value {
	return slog.GroupValue(slog.String("redis_url", cli.Redact(c.redisURL)), slog.String("sellers_file", c.sellersFile),
		slog.String("attachment_store", cli.Redact(c.attachmentStore)))
}

// String describes the batch settings with the Redis URL's password hidden
// (without it, common's String would be promoted and hide the rest).
func (o batchOpts) String() string {
	return fmt.Sprintf("batchOpts{%s dryRun:%t strict:%t asJSON:%t noProgress:%t campaign:%q format:%q filesDir:%q workers:%d}",
		o.common, o.dryRun, o.strict, o.asJSON, o.noProgress, o.campaign, o.format, o.filesDir, o.workers)
}

// GoString is String, so %#v hides the Redis password too.
func (o batchOpts) GoString() string { return o.String() }

// Format prints String for every verb (see common.Format).
func (o batchOpts) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, o.String()) }

// LogValue implements slog.LogValuer with the Redis password hidden.
func (o batchOpts) LogValue() slog.Value {
	return slog.GroupValue(slog.Any("common", o.common), slog.String("campaign", o.campaign),
		slog.Bool("dry_run", o.dryRun), slog.Int("workers", o.workers))
}
