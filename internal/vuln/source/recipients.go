package source

import (
	"context"
	"fmt"
	"strings"

	"github.com/kizuna-cti/kizuna/internal/errkind"
	"github.com/kizuna-cti/kizuna/internal/sharing"
	"github.com/kizuna-cti/kizuna/internal/store"
)

// Users looks up users (the store's directory).
type Users interface {
	User(ctx context.Context, id string) (store.User, error)
	UserByName(ctx context.Context, orgID, name string) (store.User, error)
}

// ResolveRecipients turns user names (of the hub organisation hub) or user
// ids into the ids of RedRecipients. Each must be a hub analyst or hub
// admin of the hub organisation: a RED advisory from another provider is
// for the hub's staff named, never a constituent.
func ResolveRecipients(ctx context.Context, users Users, hub string, refs []string) ([]string, error) {
	var out []string
	for _, ref := range refs {
		ref = strings.TrimSpace(ref)
		var u store.User
		var err error
		if strings.HasPrefix(ref, "user--") {
			u, err = users.User(ctx, ref)
		} else {
			u, err = users.UserByName(ctx, hub, ref)
		}
		if err != nil {
			return nil, fmt.Errorf("%w: RED recipient %q: no such user in the hub organisation (a hub analyst or hub admin)", errkind.Invalid, ref)
		}
		if hub == "" || u.OrgID != hub || !(sharing.Principal{OrgID: u.OrgID, Role: u.Role}).HubAnalyst() {
			return nil, fmt.Errorf("%w: RED recipient %q: must be a hub analyst or hub admin of the hub organisation", errkind.Invalid, ref)
		}
		out = append(out, u.ID)
	}
	return out, nil
}
