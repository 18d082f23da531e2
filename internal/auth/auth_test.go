package auth

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kizuna-cti/kizuna/internal/errkind"
	"github.com/kizuna-cti/kizuna/internal/sharing"
	"github.com/kizuna-cti/kizuna/internal/store"
)

// fakeDir is an in-memory store.Directory that counts token lookups.
type fakeDir struct {
	store.Directory // only the methods below are used
	mu              sync.Mutex
	orgs            map[string]store.Org
	users           map[string]store.User
	tokens          []store.Token
	lookups         int
	fail            error
}

func (d *fakeDir) TokenByHash(_ context.Context, h [32]byte) (store.Token, store.User, store.Org, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.lookups++
	if d.fail != nil {
		return store.Token{}, store.User{}, store.Org{}, d.fail
	}
	for _, t := range d.tokens {
		if t.Hash == h && !t.Revoked {
			u := d.users[t.UserID]
			return t, u, d.orgs[u.OrgID], nil
		}
	}
	return store.Token{}, store.User{}, store.Org{}, fmt.Errorf("token: %w", errkind.NotFound)
}

func (d *fakeDir) RevokeToken(_ context.Context, id string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	for i := range d.tokens {
		if d.tokens[i].ID == id {
			d.tokens[i].Revoked = true
			return nil
		}
	}
	return errkind.NotFound
}

// newFixture returns a directory with an organisation, a hub organisation,
// and one user in each holding a token, plus those tokens.
func newFixture(t *testing.T) (*fakeDir, map[string]string) {
	t.Helper()
	d := &fakeDir{
		orgs: map[string]store.Org{
			"identity--a": {ID: "identity--a", Name: "Acme", Type: "sme"},
			"identity--h": {ID: "identity--h", Name: "Hub", Type: "hub"},
		},
		users: map[string]store.User{
			"user--alice": {ID: "user--alice", OrgID: "identity--a", Name: "alice", Role: sharing.RoleOrgAdmin},
			"user--hana":  {ID: "user--hana", OrgID: "identity--h", Name: "hana", Role: sharing.RoleAnalyst},
			"user--mal":   {ID: "user--mal", OrgID: "identity--a", Name: "mal", Role: sharing.RoleHubAdmin},
		},
	}
	toks := map[string]string{}
	for _, u := range []string{"alice", "hana", "mal"} {
		plain, hash, err := NewToken()
		if err != nil {
			t.Fatal(err)
		}
		d.tokens = append(d.tokens, store.Token{ID: "tok-" + u, UserID: "user--" + u, Hash: hash})
		toks[u] = plain
	}
	return d, toks
}

func TestNewToken(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		plain, hash, err := NewToken()
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(plain, "kz_") || len(plain) != 46 || !WellFormed(plain) {
			t.Fatalf("token %q has the wrong shape", plain)
		}
		if hash != HashToken(plain) {
			t.Fatal("hash does not match HashToken")
		}
		if seen[plain] {
			t.Fatal("duplicate token")
		}
		seen[plain] = true
	}
}

func TestWellFormed(t *testing.T) {
	good, _, _ := NewToken()
	tests := []struct {
		in   string
		want bool
	}{
		{good, true},
		{"", false},
		{good[:len(good)-1], false},
		{good + "A", false},
		{"xx_" + good[3:], false},
		{good[:10] + "+" + good[11:], false}, // not base64url
		{good[:10] + "=" + good[11:], false},
	}
	for _, tt := range tests {
		if got := WellFormed(tt.in); got != tt.want {
			t.Errorf("WellFormed(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestNewUUID(t *testing.T) {
	id, err := NewUUID()
	if err != nil {
		t.Fatal(err)
	}
	if len(id) != 36 || id[14] != '4' || !strings.ContainsRune("89ab", rune(id[19])) || strings.Count(id, "-") != 4 {
		t.Errorf("NewUUID() = %q, not a version 4 UUID", id)
	}
	other, _ := NewUUID()
	if other == id {
		t.Error("two NewUUID calls returned the same id")
	}
}

func request(header string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/taxii2/", nil)
	if header != "" {
		r.Header.Set("Authorization", header)
	}
	return r
}

func basic(user, pass string) string {
	r := request("")
	r.SetBasicAuth(user, pass)
	return r.Header.Get("Authorization")
}

func TestAuthenticate(t *testing.T) {
	d, toks := newFixture(t)
	a := &Authenticator{Dir: d, TTL: -1}
	tests := []struct {
		name     string
		header   string
		wantUser string
		wantRole sharing.Role
		wantOrg  string
		noCreds  bool
		wantErr  bool
	}{
		{name: "bearer", header: "Bearer " + toks["alice"], wantUser: "alice", wantRole: sharing.RoleOrgAdmin, wantOrg: "Acme"},
		{name: "bearer lower-case scheme", header: "bearer " + toks["alice"], wantUser: "alice", wantRole: sharing.RoleOrgAdmin, wantOrg: "Acme"},
		{name: "basic any user", header: basic("whoever", toks["hana"]), wantUser: "hana", wantRole: sharing.RoleAnalyst, wantOrg: "Hub"},
		{name: "basic empty user", header: basic("", toks["hana"]), wantUser: "hana", wantRole: sharing.RoleAnalyst, wantOrg: "Hub"},
		{name: "hub role outside hub org is member", header: "Bearer " + toks["mal"], wantUser: "mal", wantRole: sharing.RoleMember, wantOrg: "Acme"},
		{name: "missing", header: "", noCreds: true, wantErr: true},
		{name: "empty bearer", header: "Bearer ", wantErr: true},
		{name: "unknown token", header: "Bearer kz_" + strings.Repeat("A", 43), wantErr: true},
		{name: "malformed token", header: "Bearer not-a-token", wantErr: true},
		{name: "token as username", header: basic(toks["alice"], ""), wantErr: true},
		{name: "other scheme", header: "Digest abc", wantErr: true},
		{name: "token without scheme", header: toks["alice"], wantErr: true},
		{name: "basic garbage", header: "Basic !!!", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pr, err := a.Authenticate(context.Background(), request(tt.header))
			if tt.wantErr {
				if !errors.Is(err, errkind.Unauthorized) {
					t.Fatalf("error = %v, want errkind.Unauthorized", err)
				}
				if got := errors.Is(err, ErrNoCredentials); got != tt.noCreds {
					t.Errorf("errors.Is(err, ErrNoCredentials) = %v, want %v", got, tt.noCreds)
				}
				for _, tok := range toks {
					if strings.Contains(err.Error(), tok) {
						t.Errorf("error %q contains a token", err)
					}
				}
				if pr != (sharing.Principal{}) {
					t.Errorf("principal %+v returned with an error", pr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if pr.User != tt.wantUser || pr.Role != tt.wantRole || pr.OrgName != tt.wantOrg || pr.Public || pr.TokenID != "tok-"+tt.wantUser {
				t.Errorf("principal = %+v, want user %s role %s org %s", pr, tt.wantUser, tt.wantRole, tt.wantOrg)
			}
		})
	}
}

func TestRevocationWithinTTL(t *testing.T) {
	d, toks := newFixture(t)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	a := &Authenticator{Dir: d, Now: func() time.Time { return now }}
	ctx := context.Background()
	r := request("Bearer " + toks["alice"])
	for range 3 {
		if _, err := a.Authenticate(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	if d.lookups != 1 {
		t.Errorf("%d directory lookups for 3 requests within the TTL, want 1", d.lookups)
	}
	if err := d.RevokeToken(ctx, "tok-alice"); err != nil {
		t.Fatal(err)
	}
	now = now.Add(DefaultCacheTTL)
	if _, err := a.Authenticate(ctx, r); !errors.Is(err, errkind.Unauthorized) {
		t.Fatalf("revoked token accepted after the TTL: %v", err)
	}
	// Flush makes a revocation immediate.
	r = request("Bearer " + toks["hana"])
	if _, err := a.Authenticate(ctx, r); err != nil {
		t.Fatal(err)
	}
	_ = d.RevokeToken(ctx, "tok-hana")
	a.Flush()
	if _, err := a.Authenticate(ctx, r); !errors.Is(err, errkind.Unauthorized) {
		t.Fatalf("revoked token accepted after Flush: %v", err)
	}
}

func TestNoCache(t *testing.T) {
	d, toks := newFixture(t)
	a := &Authenticator{Dir: d, TTL: -1}
	for range 3 {
		if _, err := a.AuthenticateToken(context.Background(), toks["alice"]); err != nil {
			t.Fatal(err)
		}
	}
	if d.lookups != 3 {
		t.Errorf("%d lookups with the cache disabled, want 3", d.lookups)
	}
}

func TestDirectoryFailureIsNotUnauthorized(t *testing.T) {
	d, toks := newFixture(t)
	d.fail = errors.New("disk on fire")
	a := &Authenticator{Dir: d}
	_, err := a.AuthenticateToken(context.Background(), toks["alice"])
	if err == nil || errors.Is(err, errkind.Unauthorized) || !strings.Contains(err.Error(), "disk on fire") {
		t.Fatalf("error = %v, want the directory's error, not Unauthorized", err)
	}
}

func TestNeverLogsTokens(t *testing.T) {
	d, toks := newFixture(t)
	var buf bytes.Buffer
	a := &Authenticator{Dir: d, Log: slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	ctx := context.Background()
	_ = d.RevokeToken(ctx, "tok-alice")
	for _, h := range []string{"Bearer " + toks["alice"], toks["alice"], basic("u", toks["alice"]), "Bearer " + toks["mal"], "Bearer " + toks["alice"] + "x"} {
		_, _ = a.Authenticate(ctx, request(h))
	}
	if !strings.Contains(buf.String(), "authentication failed") {
		t.Fatalf("failures not logged: %q", buf.String())
	}
	for _, tok := range toks {
		if strings.Contains(buf.String(), tok) || strings.Contains(buf.String(), tok[3:20]) {
			t.Fatalf("log contains a token: %s", buf.String())
		}
	}
}

func TestConcurrentAuthenticate(t *testing.T) {
	d, toks := newFixture(t)
	a := &Authenticator{Dir: d}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				if _, err := a.AuthenticateToken(context.Background(), toks[[]string{"alice", "hana"}[i%2]]); err != nil {
					t.Error(err)
					return
				}
			}
			a.Flush()
		}()
	}
	wg.Wait()
}

// The server's Authenticator interface, restated: this package must keep
// satisfying it.
var _ interface {
	Authenticate(context.Context, *http.Request) (sharing.Principal, error)
} = (*Authenticator)(nil)
