package server

import (
	"context"
	"net/http"

	"github.com/kizuna-cti/kizuna/internal/sharing"
)

// Authenticator turns a request's credentials into a principal. It fails
// with an error wrapping errkind.Unauthorized when credentials are missing
// or wrong. auth.Authenticator is the implementation New uses by default.
type Authenticator interface {
	Authenticate(ctx context.Context, r *http.Request) (sharing.Principal, error)
}
