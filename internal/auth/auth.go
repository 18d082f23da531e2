package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/kizuna-cti/kizuna/internal/errkind"
	"github.com/kizuna-cti/kizuna/internal/sharing"
	"github.com/kizuna-cti/kizuna/internal/store"
)

// ErrNoCredentials is returned by Authenticate for a request without an
// Authorization header (the server may then treat the caller as the
// public). It wraps errkind.Unauthorized.
var ErrNoCredentials = fmt.Errorf("%w: no credentials (use Authorization: Bearer TOKEN)", errkind.Unauthorized)

// DefaultCacheTTL is how long a successful authentication is remembered
// when Authenticator.TTL is zero: a revoked token stops working at most
// this long after revocation.
const DefaultCacheTTL = 2 * time.Second

// maxCached bounds the cache.
const maxCached = 4096

// Authenticator turns a request's credentials into a sharing.Principal.
// It accepts "Authorization: Bearer TOKEN" and HTTP Basic with any user
// name and the token as password. The zero value (with Dir set) is ready
// to use; an Authenticator must not be copied after first use.
type Authenticator struct {
	// Dir looks tokens up by hash.
	Dir store.Directory
	// Log receives authentication failures (never tokens); nil discards.
	Log *slog.Logger
	// TTL is how long a successful lookup is cached (0: DefaultCacheTTL;
	// negative: no cache).
	TTL time.Duration
	// Now is the clock (nil: time.Now).
	Now func() time.Time

	mu    sync.Mutex // guards the following
	cache map[[32]byte]cached
}

type cached struct {
	pr      sharing.Principal
	expires time.Time
}

// Authenticate returns the principal of the request's token. Missing
// credentials give ErrNoCredentials; a malformed, unknown or revoked token
// an error wrapping errkind.Unauthorized; a failing directory its own error.
func (a *Authenticator) Authenticate(ctx context.Context, r *http.Request) (sharing.Principal, error) {
	tok, err := credentials(r)
	if err != nil {
		a.logFailure(ctx, r, err)
		return sharing.Principal{}, err
	}
	pr, err := a.authenticate(ctx, tok)
	if err != nil {
		a.logFailure(ctx, r, err)
	}
	return pr, err
}

// AuthenticateToken returns the principal of a plaintext token, with the
// errors of Authenticate.
func (a *Authenticator) AuthenticateToken(ctx context.Context, token string) (sharing.Principal, error) {
	pr, err := a.authenticate(ctx, token)
	if err != nil {
		a.logFailure(ctx, nil, err)
	}
	return pr, err
}

func (a *Authenticator) authenticate(ctx context.Context, token string) (sharing.Principal, error) {
	if !WellFormed(token) {
		return sharing.Principal{}, fmt.Errorf("%w: malformed token (want %s followed by 43 base64url characters)", errkind.Unauthorized, TokenPrefix)
	}
	h := HashToken(token)
	now := a.now()
	if pr, ok := a.lookupCache(h, now); ok {
		return pr, nil
	}
	t, u, o, err := a.Dir.TokenByHash(ctx, h)
	if err != nil {
		if errors.Is(err, errkind.NotFound) {
			return sharing.Principal{}, fmt.Errorf("%w: unknown or revoked token", errkind.Unauthorized)
		}
		return sharing.Principal{}, fmt.Errorf("looking up token: %w", err)
	}
	if t.Revoked {
		return sharing.Principal{}, fmt.Errorf("%w: token %s is revoked", errkind.Unauthorized, t.ID)
	}
	if u.OrgID != o.ID || t.UserID != u.ID {
		return sharing.Principal{}, fmt.Errorf("token %s: directory returned user %s of organisation %s with organisation %s", t.ID, u.ID, u.OrgID, o.ID)
	}
	pr := sharing.Principal{OrgID: o.ID, OrgName: o.Name, UserID: u.ID, User: u.Name, Role: u.Role, TokenID: t.ID}
	if (u.Role == sharing.RoleHubAdmin || u.Role == sharing.RoleAnalyst) && o.Type != "hub" {
		// Defence in depth: hub roles only count in the hub's organisation.
		pr.Role = sharing.RoleMember
		a.logger().WarnContext(ctx, "hub role outside the hub organisation treated as member",
			"user", u.ID, "org", o.ID, "role", string(u.Role))
	}
	a.store(h, pr, now)
	return pr, nil
}

// Flush forgets every cached authentication, so that a revocation made in
// this process takes effect immediately.
func (a *Authenticator) Flush() {
	a.mu.Lock()
	a.cache = nil
	a.mu.Unlock()
}

// credentials extracts the token from the Authorization header.
func credentials(r *http.Request) (string, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return "", ErrNoCredentials
	}
	scheme, rest, _ := strings.Cut(h, " ")
	switch {
	case strings.EqualFold(scheme, "Bearer"):
		tok := strings.TrimSpace(rest)
		if tok == "" {
			return "", fmt.Errorf("%w: empty bearer token", errkind.Unauthorized)
		}
		return tok, nil
	case strings.EqualFold(scheme, "Basic"):
		_, pass, ok := r.BasicAuth()
		if !ok || pass == "" {
			return "", fmt.Errorf("%w: malformed basic credentials (the password must be the token)", errkind.Unauthorized)
		}
		return pass, nil
	}
	if len(scheme) > 16 || strings.IndexFunc(scheme, func(r rune) bool { return !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z') }) >= 0 {
		// Never echo what might be a token sent without a scheme.
		return "", fmt.Errorf("%w: malformed authorization header (use Bearer TOKEN or Basic)", errkind.Unauthorized)
	}
	return "", fmt.Errorf("%w: unsupported authorization scheme %q (use Bearer or Basic)", errkind.Unauthorized, scheme)
}

func (a *Authenticator) ttl() time.Duration {
	if a.TTL == 0 {
		return DefaultCacheTTL
	}
	return a.TTL
}

func (a *Authenticator) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

func (a *Authenticator) logger() *slog.Logger {
	if a.Log != nil {
		return a.Log
	}
	return slog.New(slog.DiscardHandler)
}

func (a *Authenticator) lookupCache(h [32]byte, now time.Time) (sharing.Principal, bool) {
	if a.ttl() < 0 {
		return sharing.Principal{}, false
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	c, ok := a.cache[h]
	if !ok {
		return sharing.Principal{}, false
	}
	if !now.Before(c.expires) {
		delete(a.cache, h)
		return sharing.Principal{}, false
	}
	return c.pr, true
}

func (a *Authenticator) store(h [32]byte, pr sharing.Principal, now time.Time) {
	ttl := a.ttl()
	if ttl < 0 {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.cache == nil {
		a.cache = map[[32]byte]cached{}
	}
	if len(a.cache) >= maxCached {
		a.pruneLocked(now)
	}
	a.cache[h] = cached{pr: pr, expires: now.Add(ttl)}
}

// pruneLocked drops expired entries, or everything if none had expired.
func (a *Authenticator) pruneLocked(now time.Time) {
	for k, c := range a.cache {
		if !now.Before(c.expires) {
			delete(a.cache, k)
		}
	}
	if len(a.cache) >= maxCached {
		clear(a.cache)
	}
}

// logFailure records a refused credential (never the credential itself);
// missing credentials and directory failures are not logged here.
func (a *Authenticator) logFailure(ctx context.Context, r *http.Request, err error) {
	if errors.Is(err, ErrNoCredentials) || !errors.Is(err, errkind.Unauthorized) {
		return
	}
	attrs := []any{"error", err.Error()}
	if r != nil {
		attrs = append(attrs, "remote", r.RemoteAddr)
	}
	a.logger().InfoContext(ctx, "authentication failed", attrs...)
}
