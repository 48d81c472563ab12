package httpapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"

	"github.com/spmsg/spmsg/attachstore"
	"github.com/spmsg/spmsg/jobstate"
	"github.com/spmsg/spmsg/tasks"
)

// Limits used when a Config field is zero.
const (
	// DefaultMaxBodyBytes caps a POST /v1/messages body (8 MiB).
	DefaultMaxBodyBytes = 8 << 20
	// DefaultMaxJobs caps the jobs of one array body.
	DefaultMaxJobs = 1000
	// DefaultMaxProblems is how many failed or unconfirmed jobs a campaign
	// report lists unless ?problems= says otherwise.
	DefaultMaxProblems = 100
	// maxProblemsLimit caps ?problems=.
	maxProblemsLimit = 1000
	// statusClientClosed is recorded for a request whose client went away
	// (nginx's 499).
	statusClientClosed = 499
	// defaultParallel is how many jobs of one array are enqueued at once.
	defaultParallel = 16
)

// Config configures an API. Producer, Outcomes, Store and Redis are
// required; every other field has a documented zero value.
type Config struct {
	// Producer validates and enqueues jobs (the same one `enqueue batch`
	// uses).
	Producer *tasks.Producer
	// Outcomes answers GET /v1/messages/{id} and GET /v1/campaigns/{name}.
	Outcomes *jobstate.OutcomeStore
	// Store receives uploads and resolves attachment references. Jobs may
	// reference only the store (or s3://): never a file of the server.
	Store attachstore.Store
	// Redis is pinged by GET /healthz.
	Redis redis.UniversalClient
	// Tokens are the accepted bearer tokens (several, for rotation), each
	// possibly bound to sellers (see Token). Empty means no
	// authentication: only for a loopback listener (see IsLoopback), which
	// the caller checks; the API then answers only requests whose Host
	// header is a loopback name (421 otherwise).
	Tokens []Token
	// Logger receives one line per request at debug level (never a token
	// or a body), rejected tokens at info level and internal errors. Nil
	// discards.
	Logger *slog.Logger
	// Registry receives the API's metrics and is served at /metrics. Nil
	// means a new registry with the Go and process collectors.
	Registry *prometheus.Registry
	// MaxBodyBytes caps a POST /v1/messages body; zero means
	// DefaultMaxBodyBytes. Uploads are capped by attachstore.MaxFileSize.
	MaxBodyBytes int64
	// MaxJobs caps the items of an array body; zero means DefaultMaxJobs.
	MaxJobs int
	// Parallel is how many jobs of one array are enqueued at once; zero
	// means 16.
	Parallel int
}

// API serves the HTTP enqueue API. It is an http.Handler, safe for
// concurrent use; build it with New.
type API struct {
	cfg      Config
	log      *slog.Logger
	resolver tasks.AttachmentResolver
	auth     *authenticator
	metrics  *metrics
	mux      *http.ServeMux
}

var _ http.Handler = (*API)(nil)

// Route is one operation the API serves.
type Route struct {
	// Method is the HTTP method; Path is the path template in OpenAPI form
	// (also the net/http pattern), e.g. /v1/messages/{id}.
	Method, Path string
	// Public routes need no bearer token.
	Public bool
}

// Pattern is the route's net/http pattern and metric label, e.g.
// "GET /v1/messages/{id}".
func (r Route) Pattern() string { return r.Method + " " + r.Path }

// Routes lists every route the API serves, each documented in
// openapi.json.
func Routes() []Route {
	return []Route{
		{Method: http.MethodPost, Path: "/v1/messages"},
		{Method: http.MethodGet, Path: "/v1/messages/{id}"},
		{Method: http.MethodGet, Path: "/v1/campaigns/{name}"},
		{Method: http.MethodPost, Path: "/v1/attachments"},
		{Method: http.MethodGet, Path: "/healthz", Public: true},
		{Method: http.MethodGet, Path: "/metrics", Public: true},
		{Method: http.MethodGet, Path: "/openapi.json", Public: true},
	}
}

// New checks cfg and builds the API. It returns an error naming each
// missing dependency or bad token.
func New(cfg Config) (*API, error) {
	var missing []string
	if cfg.Producer == nil {
		missing = append(missing, "Producer")
	}
	if cfg.Outcomes == nil {
		missing = append(missing, "Outcomes")
	}
	if cfg.Store == nil {
		missing = append(missing, "Store")
	}
	if cfg.Redis == nil {
		missing = append(missing, "Redis")
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("httpapi: Config needs %s", strings.Join(missing, ", "))
	}
	var known func(string) bool
	if sellers := cfg.Producer.Validation.Sellers; sellers != nil {
		known = func(id string) bool { _, ok := sellers.SellerRegion(id); return ok }
	}
	auth, err := newAuthenticator(cfg.Tokens, known)
	if err != nil {
		return nil, err
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.MaxJobs <= 0 {
		cfg.MaxJobs = DefaultMaxJobs
	}
	if cfg.Parallel <= 0 {
		cfg.Parallel = defaultParallel
	}
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
		cfg.Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m, err := newMetrics(cfg.Registry)
	if err != nil {
		return nil, err
	}
	a := &API{cfg: cfg, log: log, auth: auth, metrics: m,
		resolver: tasks.AttachmentResolver{Store: cfg.Store, LocalFiles: false}}
	a.mux = a.routes()
	return a, nil
}

// ServeHTTP implements http.Handler.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.mux.ServeHTTP(w, r) }

// routes builds the mux: each route wrapped in metrics, logging, panic
// recovery and (unless public) authentication; JSON 405 and 404 answers
// for everything else.
func (a *API) routes() *http.ServeMux {
	handlers := map[string]http.HandlerFunc{
		"POST /v1/messages":        a.postMessages,
		"GET /v1/messages/{id}":    a.getMessage,
		"GET /v1/campaigns/{name}": a.getCampaign,
		"POST /v1/attachments":     a.postAttachment,
		"GET /healthz":             a.healthz,
		"GET /metrics":             promhttp.HandlerFor(a.cfg.Registry, promhttp.HandlerOpts{}).ServeHTTP,
		"GET /openapi.json":        serveOpenAPI,
	}
	mux := http.NewServeMux()
	allow := map[string][]string{}
	var paths []string
	for _, rt := range Routes() {
		h, ok := handlers[rt.Pattern()]
		if !ok {
			panic("httpapi: no handler for " + rt.Pattern()) // a programming error, caught by every test
		}
		var next http.Handler = h
		if !rt.Public {
			next = a.auth.require(a.log, next)
		}
		mux.Handle(rt.Pattern(), a.instrument(rt.Pattern(), a.auth.requireLoopbackHost(next)))
		if _, seen := allow[rt.Path]; !seen {
			paths = append(paths, rt.Path)
		}
		allow[rt.Path] = append(allow[rt.Path], rt.Method)
	}
	for _, p := range paths {
		methods := strings.Join(allow[p], ", ")
		mux.Handle(p, a.instrument("unmatched", a.auth.requireLoopbackHost(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Allow", methods)
			writeError(w, http.StatusMethodNotAllowed, "method %s not allowed on %s (allowed: %s)", r.Method, p, methods)
		}))))
	}
	mux.Handle("/", a.instrument("unmatched", a.auth.requireLoopbackHost(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such route: %s %s (see GET /openapi.json)", r.Method, r.URL.Path)
	}))))
	return mux
}

// healthz answers 200 when Redis answers a PING within 2 s, else 503.
func (a *API) healthz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), pingTimeout)
	defer cancel()
	if err := a.cfg.Redis.Ping(ctx).Err(); err != nil {
		a.log.Warn("healthz: redis ping failed", "error", err)
		writeError(w, http.StatusServiceUnavailable, "redis is unreachable")
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// unavailable answers 503 for a failure of Redis or the store, logging
// the cause (which may name internal addresses) instead of returning it.
func (a *API) unavailable(w http.ResponseWriter, r *http.Request, what string, err error) {
	if errors.Is(err, context.Canceled) && r.Context().Err() != nil {
		w.WriteHeader(statusClientClosed) // nobody reads it; the metrics do
		return
	}
	a.log.Error(what, "route", r.Pattern, "error", err)
	w.Header().Set("Retry-After", "1")
	writeError(w, http.StatusServiceUnavailable, "%s: the queue or the attachment store is unavailable; retrying is safe (jobs are deduplicated)", what)
}
