// Command gatehouse serves users, roles and permissions for HTTP APIs: a
// Strapi-compatible users & permissions API whose route access is decided by
// a Casbin policy stored in the database.
//
//	gatehouse                 same as gatehouse serve (settings from the environment)
//	gatehouse serve           run the server (flags or environment, see --help)
//	gatehouse admin create    create an admin user
//	gatehouse policy …        export, import, check, diff, lint and test the policy
//	gatehouse role …, user …  manage roles and users
//	gatehouse health          check a running server (for container health checks)
//	gatehouse version         the module version and VCS revision
//
// The commands besides serve live in package cli, which an app embedding
// Gatehouse mounts on its own root with its own route catalogue.
package main

import (
	"context"
	"crypto/rand"
	_ "embed"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/gatehouse/gatehouse/cli"
	"github.com/gatehouse/gatehouse/cluster"
	"github.com/gatehouse/gatehouse/config"
	"github.com/gatehouse/gatehouse/follow"
	"github.com/gatehouse/gatehouse/gateway"
	"github.com/gatehouse/gatehouse/handlers"
	"github.com/gatehouse/gatehouse/mail"
	"github.com/gatehouse/gatehouse/metrics"
	"github.com/gatehouse/gatehouse/policy"
	"github.com/gatehouse/gatehouse/store"
	"github.com/gin-gonic/gin"
	"github.com/spf13/cobra"
)

// modelText is the Casbin model the binary enforces.
//
//go:embed model.conf
var modelText string

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run executes the command line and returns the process's exit code: 0, 2
// for a stale `policy apply --expect-revision`, or 1 for any other failure
// (an unknown command or flag, bad settings, a denied check, lint findings,
// a failed matrix, a diff under --exit-code).
func run(args []string, stdout, stderr io.Writer) int {
	root := rootCommand()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	if err := root.Execute(); err != nil {
		if errors.Is(err, cli.ErrStale) {
			return 2
		}
		if !errors.Is(err, cli.ErrFailed) {
			fmt.Fprintln(stderr, "gatehouse:", err)
		}
		return 1
	}
	return 0
}

func rootCommand() *cobra.Command {
	gin.SetMode(gin.ReleaseMode)
	opts := cli.Options{Catalog: handlers.DefaultCatalog(), Model: modelText, LookupEnv: os.LookupEnv}
	serve := serveCommand()
	root := &cobra.Command{
		Use:           "gatehouse",
		Short:         "Users, roles and permissions for HTTP APIs (Strapi-compatible, Casbin policies)",
		Version:       cli.Version(),
		SilenceUsage:  true,
		SilenceErrors: true,
		// `gatehouse` alone serves with the environment's settings, so
		// `go run .` starts the server; flags belong to `gatehouse serve`.
		RunE: serve.RunE,
	}
	root.SetVersionTemplate("gatehouse {{.Version}}\n")
	root.AddCommand(serve, cli.AdminCommand(opts), cli.PolicyCommand(opts), cli.AuditCommand(opts), cli.RoleCommand(opts), cli.UserCommand(opts),
		cli.HealthCommand(opts), cli.MailCommand(opts), cli.RoutesCommand(opts), cli.VersionCommand())
	return root
}

func serveCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "serve", Short: "Run the HTTP server", Args: cobra.NoArgs}
	load := cli.BindSettings(cmd.Flags(), os.LookupEnv, config.Vars...)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		cfg, err := load()
		if err != nil {
			return err
		}
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		return serve(ctx, cfg, cmd.OutOrStdout())
	}
	return cmd
}

// newLogger builds the process logger from the config.
func newLogger(cfg config.Config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.LogLevel}
	if cfg.LogJSON {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// app is a wired Gatehouse: storage, enforcer and HTTP server.
type app struct {
	store    *store.Store
	enforcer *policy.Enforcer
	server   *handlers.Server
	// cluster links the instances through REDIS_URL (nil without it).
	cluster *cluster.Cluster
	// metrics is served on METRICS_ADDR (nil without it).
	metrics *metrics.Metrics
	// functions is ROUTES_FILE, reloaded on SIGHUP (nil without it).
	functions *gateway.Routes
}

// newApp wires everything the server needs.
func newApp(ctx context.Context, cfg config.Config, log *slog.Logger) (*app, error) {
	var secret []byte
	st, enforcer, err := cli.Open(ctx, cfg.DatabaseURL, storeOptions(cfg, log), modelText, log, func(ctx context.Context, st *store.Store) (err error) {
		if secret, err = jwtSecret(ctx, cfg, st, log); err != nil {
			return err
		}
		return cli.AdminFromConfig(ctx, cfg, st, log)
	})
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*app, error) {
		st.Close()
		return nil, err
	}
	if cfg.JWTExpiresIn > 30*24*time.Hour {
		log.Warn("security: JWT_EXPIRES_IN is longer than 30 days; stolen tokens stay valid that long", "expiresIn", cfg.JWTExpiresIn.String())
	}
	// -- email wiring: the mail sender (newMailer) --
	mailer, err := newMailer(ctx, cfg, st, log)
	if err != nil {
		return fail(err)
	}
	// -- Redis wiring: shared rate limits, policy change notices --
	limits := handlers.RateLimit{Enabled: cfg.RateLimitEnabled, Max: cfg.RateLimitMax, Interval: cfg.RateLimitInterval,
		IPMax: cfg.RateLimitIPMax, IPInterval: cfg.RateLimitIPInterval}
	var peers *cluster.Cluster
	var readyChecks []handlers.ReadyCheck
	if cfg.RedisURL != "" {
		if peers, err = cluster.Connect(ctx, cfg.RedisURL, cluster.Options{WatcherChannel: cfg.RedisWatcherChannel, Logger: log}); err != nil {
			return fail(fmt.Errorf("REDIS_URL: %w (Gatehouse does not start without the Redis it was given; unset REDIS_URL to run a single instance)", err))
		}
		limits.Store = peers.Limits
		readyChecks = append(readyChecks, handlers.ReadyCheck{Name: "redis", Check: peers.Ping})
	}
	// -- end of Redis wiring --
	m := newMetrics(cfg)
	var functions *gateway.Routes
	if cfg.Gateway.RoutesFile != "" {
		if functions, err = gateway.NewRoutes(cfg.Gateway.RoutesFile, handlers.OwnRoutes(), log); err != nil {
			if peers != nil {
				peers.Close()
			}
			return fail(fmt.Errorf("ROUTES_FILE: %w", err))
		}
	}
	auditSink, err := openAuditLog(cfg.AuditLog)
	if err != nil {
		if peers != nil {
			peers.Close()
		}
		return fail(err)
	}
	srv, err := handlers.New(handlers.Config{
		AuditSink: auditSink,
		Store:     st, Enforcer: enforcer, Secret: secret, TokenTTL: cfg.JWTExpiresIn, BcryptCost: cfg.BcryptCost,
		BodyLimit: cfg.BodyLimit, TrustedProxies: cfg.TrustedProxies, PublicURL: cfg.PublicURL, Logger: log,
		RateLimit: limits,
		// -- email wiring --
		Mailer: mailer, ResetTokenTTL: cfg.ResetTokenTTL, ConfirmationTokenTTL: cfg.ConfirmationTokenTTL,
		// -- end of email wiring --
		// -- OAuth wiring --
		// Providers: nil, Strapi's built-ins (an embedding app passes its
		// own registry). config.Parse defaults PUBLIC_URL to this address.
		OAuthRedirectMode:  cfg.OAuthRedirectMode,
		PublicURLDefaulted: cfg.PublicURL == fmt.Sprintf("http://localhost:%d", cfg.Port),
		// With REDIS_URL the used OAuth states are shared by every instance
		// (a replay on another one is refused); without, each keeps its own.
		OAuthConsumed: func() handlers.Consumed {
			if peers == nil {
				return nil
			}
			return peers.Consumed(cluster.DefaultConsumedPrefix)
		}(),
		// -- end of OAuth wiring --
		JWTManagement: cfg.JWTManagement,
		Sessions: handlers.Sessions{
			AccessTokenLifespan: cfg.Sessions.AccessTokenLifespan, MaxRefreshTokenLifespan: cfg.Sessions.MaxRefreshTokenLifespan,
			IdleRefreshTokenLifespan: cfg.Sessions.IdleRefreshTokenLifespan, MaxPerUser: cfg.Sessions.MaxPerUser, HTTPOnly: cfg.Sessions.HTTPOnly,
			Cookie: handlers.SessionCookie{Name: cfg.Sessions.CookieName, Secure: cfg.Sessions.CookieSecure, SameSite: cfg.Sessions.CookieSameSite,
				Path: cfg.Sessions.CookiePath, Domain: cfg.Sessions.CookieDomain, MaxAge: cfg.Sessions.CookieMaxAge},
		},
		ExplainDenials: cfg.PolicyExplainDenials,
		CORS:           corsConfig(cfg, log),
		ReadyChecks:    readyChecks,
		Metrics:        handlerMetrics(m),
		AccessLog:      cfg.AccessLog,
		// -- functions file wiring (ROUTES_FILE, forward-auth, gateway mode) --
		Functions: functions, Gateway: cfg.Gateway.Enabled, GatewayTimeout: cfg.Gateway.Timeout, GatewayMaxBody: cfg.Gateway.MaxBody, GatewayBodyTimeout: cfg.Gateway.BodyTimeout,
		ForwardAuthProxies: cfg.Gateway.ForwardAuthProxies, UpstreamTokenSecret: []byte(cfg.Gateway.TokenSecret),
	})
	if err != nil {
		if peers != nil {
			peers.Close()
		}
		return fail(err)
	}
	a := &app{store: st, enforcer: enforcer, server: srv, cluster: peers, metrics: m, functions: functions}
	if m != nil {
		if err := a.measure(m); err != nil {
			if peers != nil {
				peers.Close()
			}
			return fail(err)
		}
	}
	if _, err := a.follow(ctx, cfg.PolicyReloadInterval, log); err != nil {
		if peers != nil {
			peers.Close()
		}
		return fail(fmt.Errorf("REDIS_URL: %w", err))
	}
	return a, nil
}

// follow keeps this instance current with the others and with SQL typed by
// hand, through the call an embedding app makes too (Server.FollowChanges):
// the periodic revision check every POLICY_RELOAD_INTERVAL and, with
// REDIS_URL, the notices (policy, settings, user writes; Casbin's
// redis-watcher messages on REDIS_WATCHER_CHANNEL), until ctx is done or
// the cluster is closed. A policy notice reloads the policy and drops the
// whole user cache, a settings notice drops the settings cache if the
// settings revision moved, a user notice drops that user from the cache;
// the user cache's 2s lifetime bounds the rest.
func (a *app) follow(ctx context.Context, every time.Duration, log *slog.Logger) (stop func(), err error) {
	o := follow.Options{Every: every, Logger: log}
	if a.cluster != nil {
		o.Notices = a.cluster
	}
	stop, err = a.server.FollowChanges(ctx, o)
	if err == nil && a.cluster != nil {
		log.Info("sharing rate limits, policy and settings changes and user writes with the other instances through Redis")
	}
	return stop, err
}

// newMailer picks the sender of the reset and confirmation emails: SMTP when
// SMTP_HOST is set. Without it, development logs each message (links
// included) with a warning; production logs nothing of the kind, refuses to
// start while email confirmation is on (registration could never complete),
// and otherwise queues the reset mails, which fail until SMTP_HOST is set.
func newMailer(ctx context.Context, cfg config.Config, st *store.Store, log *slog.Logger) (handlers.Mailer, error) {
	if cfg.SMTPHost != "" {
		sender, err := mail.NewSMTP(mail.SMTPConfig{
			Host: cfg.SMTPHost, Port: cfg.SMTPPort, Username: cfg.SMTPUsername, Password: cfg.SMTPPassword,
			Security: cfg.SMTPSecurity, From: cfg.EmailFrom, ReplyTo: cfg.EmailReplyTo,
		})
		if err != nil {
			return nil, fmt.Errorf("SMTP_*/EMAIL_*: %w", err)
		}
		if cfg.EmailFrom == "" {
			log.Warn("mail: EMAIL_FROM is not set: emails whose template has no sender of its own (the default templates) cannot be sent")
		}
		log.Info("mail: sending through SMTP", "smtp", mail.SMTPConfig{Host: cfg.SMTPHost, Port: cfg.SMTPPort, Username: cfg.SMTPUsername, Security: cfg.SMTPSecurity})
		return sender, nil
	}
	if !cfg.Production {
		log.Warn("mail: SMTP_HOST is not set: emails are logged, not sent (development only)")
		return mail.NewOutbox(log), nil
	}
	adv, err := st.Settings().Advanced(ctx)
	if err != nil {
		return nil, err
	}
	if adv.EmailConfirmation {
		return nil, errors.New("email confirmation is on (advanced setting email_confirmation) but SMTP_HOST is not set: " +
			"in production Gatehouse refuses to start, as no new account could be confirmed; set SMTP_HOST " +
			"(with SMTP_PORT, SMTP_USERNAME, SMTP_PASSWORD, SMTP_SECURITY, EMAIL_FROM) or turn email_confirmation off")
	}
	log.Warn("mail: SMTP_HOST is not set: password-reset emails are queued, not sent (see `gatehouse mail queue`)")
	return noMailer{}, nil
}

// noMailer is production without SMTP: every send fails, and nothing that
// holds a code is ever logged.
type noMailer struct{}

func (noMailer) Send(context.Context, mail.Message) error {
	return errors.New("mail: not configured: SMTP_HOST is not set")
}

// serve runs the HTTP server until ctx is done, then drains in-flight requests.
func serve(ctx context.Context, cfg config.Config, out io.Writer) error {
	log := newLogger(cfg, out)
	a, err := newApp(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer a.store.Close()
	if a.cluster != nil {
		defer a.cluster.Close()
	}
	idle := newIdleWatcher(log) // memory.go: returns memory once the server has gone quiet
	srv := &http.Server{
		Handler:           idle.wrap(a.server),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	ln, err := net.Listen("tcp", cfg.Addr())
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Addr(), err)
	}
	if a.metrics != nil {
		stopMetrics, err := serveMetrics(cfg.MetricsAddr, a.metrics, log)
		if err != nil {
			ln.Close()
			return err
		}
		defer func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			stopMetrics(ctx)
		}()
	}
	log.Info("Gatehouse is listening", "url", cfg.PublicURL, "addr", ln.Addr().String(), "database", string(a.store.Dialect),
		"policyRevision", a.enforcer.Revision())
	announceAdmin(ctx, cfg, a.store, log)
	a.enforcer.SetHistoryRetention(cfg.PolicyHistoryRetention)
	go idle.run(ctx)
	if a.functions != nil {
		// Registered before serving, so a SIGHUP never finds the default
		// action (exit) in place.
		hup := make(chan os.Signal, 1)
		signal.Notify(hup, syscall.SIGHUP)
		defer signal.Stop(hup)
		go reloadOnHangup(ctx, hup, a.functions)
	}
	// The mail queue's worker: delivers queued reset and confirmation mail,
	// retrying while SMTP fails. Each instance runs one; they share the queue.
	mailCtx, stopMail := context.WithCancel(ctx)
	mailDone := make(chan struct{})
	go func() { defer close(mailDone); a.server.RunMailQueue(mailCtx) }()
	defer func() { stopMail(); <-mailDone }()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	return shutdown(srv, a.server, cfg, log, errc)
}

// shutdown stops the server gracefully: readiness fails at once and
// keep-alive ends (each answer says Connection: close, so clients send
// their next request on a new connection rather than on one about to
// close); requests keep being served for SHUTDOWN_GRACE, while the load
// balancer notices; then the listener closes and in-flight requests get
// SHUTDOWN_TIMEOUT to finish. It returns nil once drained, an error when
// requests had to be cut.
//
// http.Server.SetKeepAlivesEnabled(false) is not used during the grace: it
// closes the idle kept-alive connections at once, and a request a client
// is sending on one at that moment is reset (3 to 6 per run in
// TestSIGTERMUnderLoad). Shutdown, after the grace, does the same to the
// connections still idle, which by then no client uses.
func shutdown(srv *http.Server, api *handlers.Server, cfg config.Config, log *slog.Logger, errc <-chan error) error {
	api.Drain()
	log.Info("shutting down: readiness fails; still serving during the grace period", "grace", cfg.ShutdownGrace)
	grace := time.NewTimer(cfg.ShutdownGrace)
	defer grace.Stop()
	select {
	case <-grace.C:
	case err := <-errc:
		return err
	}
	log.Info("shutting down: draining in-flight requests", "timeout", cfg.ShutdownTimeout)
	ctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		srv.Close()
		return fmt.Errorf("shutdown: requests still running after SHUTDOWN_TIMEOUT (%s) were cut: %w", cfg.ShutdownTimeout, err)
	}
	log.Info("shut down: every request finished")
	return nil
}

// announceAdmin logs where the admin page is and, while no user has the
// admin role, the command that creates one.
func announceAdmin(ctx context.Context, cfg config.Config, st *store.Store, log *slog.Logger) {
	page := cfg.PublicURL + "/admin"
	admins, err := cli.Admins(ctx, st)
	switch {
	case err != nil:
		log.Warn("admin page: could not count the admin users", "url", page, "err", err)
	case admins == 0:
		log.Warn("admin page: no admin user exists yet; create one with: gatehouse admin create --email you@example.com --password '…' "+
			"(with the same DATABASE_URL), or set ADMIN_EMAIL and ADMIN_PASSWORD before the next start", "url", page)
	default:
		log.Info("admin page", "url", page, "admins", admins)
	}
}

// reloadOnHangup reloads the functions file on each SIGHUP until ctx is
// done; a file that does not load keeps the previous one (Routes.Reload
// logs why).
func reloadOnHangup(ctx context.Context, hup <-chan os.Signal, functions *gateway.Routes) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			_ = functions.Reload()
		}
	}
}

// jwtSecret returns JWT_SECRET, or in development a secret generated once and
// kept in the settings table so restarts keep tokens valid.
func jwtSecret(ctx context.Context, cfg config.Config, st *store.Store, log *slog.Logger) ([]byte, error) {
	if cfg.JWTSecret != "" {
		if len(cfg.JWTSecret) < 32 {
			if cfg.Production {
				return nil, errors.New("JWT_SECRET is shorter than 32 characters; generate one with: openssl rand -base64 32")
			}
			log.Warn("security: JWT_SECRET is shorter than 32 characters")
		}
		if len(cfg.JWTSecret) < 16 {
			return nil, errors.New("JWT_SECRET must be at least 16 characters; generate one with: openssl rand -base64 32")
		}
		return []byte(cfg.JWTSecret), nil
	}
	if cfg.Production {
		return nil, errors.New("missing JWT_SECRET: in production Gatehouse refuses to start without a signing secret; generate one with `openssl rand -base64 32` and set JWT_SECRET")
	}
	var secret string
	if _, err := st.Settings().Get(ctx, store.KeyJWTSecret, &secret); err != nil {
		return nil, err
	}
	if secret == "" {
		b := make([]byte, 32)
		if _, err := rand.Read(b); err != nil {
			return nil, err
		}
		if err := st.Settings().PutIfAbsent(ctx, store.KeyJWTSecret, base64.StdEncoding.EncodeToString(b)); err != nil {
			return nil, err
		}
		if _, err := st.Settings().Get(ctx, store.KeyJWTSecret, &secret); err != nil {
			return nil, err
		}
	}
	log.Warn("JWT_SECRET is not set: using a development secret kept in the database; set JWT_SECRET (and GATEHOUSE_ENV=production) before going live")
	return []byte(secret), nil
}
