package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/kizuna-cti/kizuna/internal/errkind"
	"github.com/kizuna-cti/kizuna/internal/store"
	"github.com/kizuna-cti/kizuna/internal/store/sqlite"
)

// openData opens the SQLite store of a data directory, creating the
// directory and the database when missing. An empty dir falls back to
// $KIZUNA_DATA; with neither it is a usage error.
func openData(ctx context.Context, dir string) (*sqlite.Store, error) {
	if dir == "" {
		dir = os.Getenv("KIZUNA_DATA")
	}
	if dir == "" {
		return nil, usage("--data DIR is required (or set KIZUNA_DATA)")
	}
	st, err := sqlite.Open(ctx, dir)
	if err != nil {
		return nil, failure("opening data directory %s: %v", dir, err)
	}
	return st, nil
}

// usage returns an exit-2 error (bad command line) with a message.
func usage(format string, args ...any) error {
	return &exitError{code: 2, msg: fmt.Sprintf(format, args...)}
}

// failure returns an exit-1 error (the command could not do its work).
func failure(format string, args ...any) error {
	return &exitError{code: 1, msg: fmt.Sprintf(format, args...)}
}

// orgNamed looks an organisation up by name, with a clear message when it
// does not exist.
func orgNamed(ctx context.Context, dir store.Directory, name string) (store.Org, error) {
	if strings.TrimSpace(name) == "" {
		return store.Org{}, usage("--org NAME is required")
	}
	o, err := dir.OrgByName(ctx, name)
	if errors.Is(err, errkind.NotFound) {
		return store.Org{}, failure("unknown organisation %q (kizuna org list shows them)", name)
	}
	if err != nil {
		return store.Org{}, failure("looking up organisation %q: %v", name, err)
	}
	return o, nil
}

// userNamed looks a user of an organisation up by name, with a clear
// message when it does not exist.
func userNamed(ctx context.Context, dir store.Directory, org store.Org, name string) (store.User, error) {
	if strings.TrimSpace(name) == "" {
		return store.User{}, usage("--user NAME is required")
	}
	u, err := dir.UserByName(ctx, org.ID, name)
	if errors.Is(err, errkind.NotFound) {
		return store.User{}, failure("unknown user %q in organisation %q (kizuna user list --org %q shows them)", name, org.Name, org.Name)
	}
	if err != nil {
		return store.User{}, failure("looking up user %q of organisation %q: %v", name, org.Name, err)
	}
	return u, nil
}

// writeJSON prints v as indented JSON.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return failure("writing JSON: %v", err)
	}
	return nil
}
