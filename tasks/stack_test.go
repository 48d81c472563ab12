package tasks_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/hibiken/asynq"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/spmsg/spmsg/attachstore"
	"github.com/spmsg/spmsg/dispatch"
	"github.com/spmsg/spmsg/internal/redistest"
	"github.com/spmsg/spmsg/jobstate"
	"github.com/spmsg/spmsg/sandbox"
	"github.com/spmsg/spmsg/spapi"
	"github.com/spmsg/spmsg/tasks"
)

func TestMain(m *testing.M) { os.Exit(redistest.Main(m)) }

const (
	sellerNA = "A1SELLERNA"
	sellerEU = "A2SELLEREU"
	mktUS    = "ATVPDKIKX0DER"
	mktDE    = "A1PA6795UKMFR9"
	bucket   = "spmsg-attachments"
)

// stack is a whole spmsg deployment for one test: a real Redis, the local
// SP-API sandbox over HTTP, an S3-compatible server, and a worker.
type stack struct {
	t        *testing.T
	rdb      *redis.Client
	sb       *sandbox.Sandbox
	producer *tasks.Producer
	outcomes *jobstate.OutcomeStore
	handler  *tasks.Handler
	client   *asynq.Client
	store    attachstore.Store
	dir      string
	s3       *s3.Client
}

func sellersJSON() string {
	return `[{"id":"` + sellerNA + `","refresh_token":"Atzr|` + sellerNA + `","region":"na"},
	         {"id":"` + sellerEU + `","refresh_token":"Atzr|` + sellerEU + `","region":"eu"}]`
}

// newStack starts everything; cfg is the sandbox's configuration (its
// sellers are filled in).
// newStack starts the stack; opts adjust the handler's configuration.
func newStack(t *testing.T, cfg sandbox.Config, opts ...func(*stack, *tasks.Config)) *stack {
	t.Helper()
	ctx := context.Background()
	s := &stack{t: t, rdb: redistest.Client(t)}
	cfg.Sellers = []sandbox.Seller{{ID: sellerNA, RefreshToken: "Atzr|" + sellerNA}, {ID: sellerEU, RefreshToken: "Atzr|" + sellerEU}}
	cfg.ClientID, cfg.ClientSecret = "amzn1.application-oa2-client.test", "test-secret"
	sb, err := sandbox.New(cfg)
	require.NoError(t, err)
	s.sb = sb
	ts := httptest.NewServer(sb)
	t.Cleanup(ts.Close)

	sellers, err := tasks.ParseSellers(strings.NewReader(sellersJSON()))
	require.NoError(t, err)
	client, err := spapi.NewClient(spapi.Config{LWAClientID: cfg.ClientID, LWAClientSecret: cfg.ClientSecret,
		Endpoint: ts.URL, LWAEndpoint: ts.URL + sandbox.TokenPath}, sellers.SPAPISellers()...)
	require.NoError(t, err)

	backend := s3mem.New()
	require.NoError(t, backend.CreateBucket(bucket))
	s3srv := httptest.NewServer(gofakes3.New(backend).Server())
	t.Cleanup(s3srv.Close)
	s.s3 = s3.New(s3.Options{BaseEndpoint: aws.String(s3srv.URL), Region: "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", ""), UsePathStyle: true})
	s.dir = t.TempDir()
	store, err := attachstore.Open(ctx, "file://"+s.dir, attachstore.WithS3Client(s.s3), attachstore.WithS3Allow("s3://"+bucket+"/"))
	require.NoError(t, err)
	s.store = store

	s.outcomes = jobstate.NewOutcomeStore(s.rdb, "", 0)
	led := jobstate.NewLedger(s.rdb, "")
	lines := tasks.NewDispatcher(s.rdb, dispatch.Options{})
	hc := tasks.Config{Amazon: client, State: jobstate.New(s.rdb, lines, 0), Sellers: sellers, Attachments: store}
	for _, o := range opts {
		o(s, &hc)
	}
	s.handler, err = tasks.NewHandler(hc)
	require.NoError(t, err)
	s.client = asynq.NewClientFromRedisClient(s.rdb)
	s.producer = &tasks.Producer{Lines: lines, Outcomes: s.outcomes, Ledger: led,
		Validation: tasks.Validation{Sellers: sellers}}
	srv := tasks.NewServer(s.rdb, tasks.ServerOptions{Concurrency: 20, ShutdownTimeout: 5 * time.Second,
		Backoff: tasks.Backoff{Base: 300 * time.Millisecond, Max: time.Second}})
	require.NoError(t, srv.Start(tasks.NewServeMux(s.handler)))
	t.Cleanup(srv.Shutdown)
	t.Cleanup(tasks.StartRelease(s.rdb, lines, nil))
	return s
}

// file writes an attachment into the file store and returns its path.
func (s *stack) file(name string, content []byte) string {
	s.t.Helper()
	require.NoError(s.t, os.WriteFile(filepath.Join(s.dir, name), content, 0o600))
	return name
}

// s3Object writes an attachment into the S3 server and returns its URL.
func (s *stack) s3Object(key string, content []byte) string {
	s.t.Helper()
	_, err := s.s3.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(content)})
	require.NoError(s.t, err)
	return "s3://" + bucket + "/" + key
}

// enqueue puts a job through the producer and returns its id.
func (s *stack) enqueue(j *tasks.Job) string {
	s.t.Helper()
	res, err := s.producer.Enqueue(context.Background(), j)
	require.NoError(s.t, err)
	require.Equal(s.t, tasks.StatusAccepted, res.Status, res.Reason)
	return res.ID
}

// enqueueRaw bypasses producer validation, as a buggy producer writing
// asynq tasks itself would.
func (s *stack) enqueueRaw(j *tasks.Job) string {
	s.t.Helper()
	task, err := tasks.NewTask(j)
	require.NoError(s.t, err)
	_, err = s.client.Enqueue(task)
	require.NoError(s.t, err)
	return j.ID()
}

// wait waits until every job has its final outcome.
func (s *stack) wait(timeout time.Duration, ids ...string) map[string]*jobstate.Record {
	s.t.Helper()
	out := map[string]*jobstate.Record{}
	missing := func() []string {
		var m []string
		for _, id := range ids {
			if _, ok := out[id]; !ok {
				m = append(m, id)
			}
		}
		return m
	}
	require.Eventually(s.t, func() bool {
		for _, id := range missing() {
			if rec, err := s.outcomes.Get(context.Background(), id); err == nil && rec.State == "final" {
				out[id] = rec
			}
		}
		return len(out) == len(ids)
	}, timeout, 50*time.Millisecond, "jobs not final: %v", lazyString(func() string { return fmt.Sprintf("%v (stats %+v)", missing(), s.sb.Stats()) }))
	return out
}

// lazyString prints as what f returns, when a failure message is printed.
type lazyString func() string

func (f lazyString) String() string { return f() }

// sentTo counts the messages the sandbox recorded for an order and type.
func (s *stack) sentTo(order, typ string) int {
	n := 0
	for _, m := range s.sb.Sent() {
		if m.Order == order && m.Type == typ {
			n++
		}
	}
	return n
}

func job(seller, order, typ, text string, atts ...tasks.Attachment) *tasks.Job {
	mkt := mktUS
	if seller == sellerEU {
		mkt = mktDE
	}
	return &tasks.Job{SellerID: seller, MarketplaceID: mkt, OrderID: order, Type: typ, Text: text, Attachments: atts}
}

func att(src, name string) tasks.Attachment { return tasks.Attachment{Source: src, FileName: name} }

var (
	pdfBytes = []byte("%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n")
	pngBytes = append([]byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"), make([]byte, 32)...)
	txtBytes = []byte("Your access key is ABCD-1234.\n")
)
