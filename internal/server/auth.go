package server

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/kizuna-cti/kizuna/internal/errkind"
	"github.com/kizuna-cti/kizuna/internal/sharing"
	"github.com/kizuna-cti/kizuna/internal/store"
)

// Authenticator turns a request's credentials into a principal. It fails
// with errkind.Unauthorized when credentials are missing or wrong.
type Authenticator interface {
	Authenticate(ctx context.Context, r *http.Request) (sharing.Principal, error)
}

// TokenAuth authenticates API tokens sent as "Authorization: Bearer TOKEN"
// or as the password of HTTP Basic authentication (any user name), looking
// up the token's SHA-256 hash in the directory. It is the server's default
// Authenticator.
type TokenAuth struct {
	Dir store.Directory
}

// Authenticate implements Authenticator.
func (a TokenAuth) Authenticate(ctx context.Context, r *http.Request) (sharing.Principal, error) {
	token, err := credentials(r)
	if err != nil {
		return sharing.Principal{}, err
	}
	tok, user, org, err := a.Dir.TokenByHash(ctx, sha256.Sum256([]byte(token)))
	if errors.Is(err, errkind.NotFound) {
		return sharing.Principal{}, fmt.Errorf("%w: unknown or revoked token", errkind.Unauthorized)
	}
	if err != nil {
		return sharing.Principal{}, fmt.Errorf("looking up token: %w", err)
	}
	return sharing.Principal{
		OrgID: org.ID, OrgName: org.Name, UserID: user.ID, User: user.Name,
		Role: user.Role, TokenID: tok.ID,
	}, nil
}

// credentials extracts the token from the Authorization header.
func credentials(r *http.Request) (string, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return "", fmt.Errorf("%w: send an API token as \"Authorization: Bearer TOKEN\" or as the Basic password", errkind.Unauthorized)
	}
	scheme, rest, _ := strings.Cut(h, " ")
	switch strings.ToLower(scheme) {
	case "bearer":
		if t := strings.TrimSpace(rest); t != "" {
			return t, nil
		}
	case "basic":
		if _, pw, ok := r.BasicAuth(); ok && pw != "" {
			return pw, nil
		}
	}
	return "", fmt.Errorf("%w: malformed Authorization header (want Bearer or Basic)", errkind.Unauthorized)
}
