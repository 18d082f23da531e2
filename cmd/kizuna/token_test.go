package main

import (
	"context"
	"errors"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/kizuna-cti/kizuna/internal/auth"
	"github.com/kizuna-cti/kizuna/internal/errkind"
	"github.com/kizuna-cti/kizuna/internal/sharing"
	"github.com/kizuna-cti/kizuna/internal/store/sqlite"
)

var tokenIDRE = regexp.MustCompile(`created token ([0-9a-f-]{36}) for user "alice" of "Acme"`)

func TestTokenCreateAuthenticateRevoke(t *testing.T) {
	dir := t.TempDir()
	acme := kzOK(t, "org", "create", "--data", dir, "--name", "Acme", "--sector", "energy", "--type", "sme")
	alice := kzOK(t, "user", "create", "--data", dir, "--org", "Acme", "--name", "alice", "--role", "org-admin")

	r := kz(t, "token", "create", "--data", dir, "--org", "Acme", "--user", "alice")
	if r.code != 0 {
		t.Fatalf("token create: exit %d: %s", r.code, r.stderr)
	}
	token := strings.TrimSuffix(r.stdout, "\n")
	if strings.Count(r.stdout, "\n") != 1 || !auth.WellFormed(token) {
		t.Fatalf("token create stdout %q, want only a token", r.stdout)
	}
	m := tokenIDRE.FindStringSubmatch(r.stderr)
	if m == nil {
		t.Fatalf("token create stderr %q lacks the token id", r.stderr)
	}
	if strings.Contains(r.stderr, token) {
		t.Fatal("token printed on stderr")
	}
	second := strings.TrimSpace(kzOK(t, "token", "create", "--data", dir, "--org", "Acme", "--user", "alice"))
	if second == token {
		t.Fatal("two token creates printed the same token")
	}

	ctx := context.Background()
	authenticate := func(tok string) (sharing.Principal, error) {
		st, err := sqlite.Open(ctx, dir)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		req := httptest.NewRequest("GET", "/taxii2/", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		return (&auth.Authenticator{Dir: st, TTL: -1}).Authenticate(ctx, req)
	}
	pr, err := authenticate(token)
	if err != nil {
		t.Fatalf("created token does not authenticate: %v", err)
	}
	if pr.OrgID != acme || pr.UserID != alice || pr.Role != sharing.RoleOrgAdmin || pr.TokenID != m[1] {
		t.Errorf("principal %+v", pr)
	}

	r = kz(t, "token", "revoke", "--data", dir, "--id", m[1])
	if r.code != 0 || r.stdout != "" || !strings.Contains(r.stderr, "revoked token "+m[1]) {
		t.Fatalf("token revoke: %+v", r)
	}
	if _, err := authenticate(token); !errors.Is(err, errkind.Unauthorized) {
		t.Errorf("revoked token: %v, want Unauthorized", err)
	}
	if _, err := authenticate(second); err != nil {
		t.Errorf("revoking one token revoked another: %v", err)
	}
}

func TestTokenErrors(t *testing.T) {
	dir := t.TempDir()
	kzOK(t, "org", "create", "--data", dir, "--name", "Acme", "--sector", "energy", "--type", "sme")
	kzOK(t, "user", "create", "--data", dir, "--org", "Acme", "--name", "alice", "--role", "member")
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"unknown org", []string{"create", "--org", "Nope", "--user", "alice"}, 1, `unknown organisation "Nope"`},
		{"unknown user", []string{"create", "--org", "Acme", "--user", "bob"}, 1, `unknown user "bob" in organisation "Acme"`},
		{"missing user", []string{"create", "--org", "Acme"}, 2, "--user USER is required"},
		{"missing org", []string{"create", "--user", "alice"}, 2, "--org NAME is required"},
		{"revoke unknown", []string{"revoke", "--id", "nope"}, 1, `unknown token id "nope"`},
		{"revoke without id", []string{"revoke"}, 2, "--id ID is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := kz(t, append([]string{"token", tt.args[0], "--data", dir}, tt.args[1:]...)...)
			checkFailure(t, r, tt.code, tt.want)
			if r.stdout != "" {
				t.Errorf("stdout %q on failure", r.stdout)
			}
		})
	}
}
