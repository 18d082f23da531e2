package constituency

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kizuna-cti/kizuna/internal/errkind"
	"github.com/kizuna-cti/kizuna/internal/response/route"
)

func open(t *testing.T, dir string) *Registry {
	t.Helper()
	r, err := Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func resources(t *testing.T, r *Registry, org string) []string {
	t.Helper()
	regs, err := r.List(context.Background(), org)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, x := range regs {
		out = append(out, x.OrgID+" "+x.Resource.String())
	}
	return out
}

func TestRegistry(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "data")
	r := open(t, dir)

	n, err := r.Add(ctx, "org-a", "192.0.2.77/24", "AS64500", "Bücher.Example.")
	if err != nil || n != 3 {
		t.Fatalf("Add = %d, %v; want 3, nil", n, err)
	}
	// Idempotent under any spelling.
	if n, err := r.Add(ctx, "org-a", "192.0.2.0/24", "as64500", "xn--bcher-kva.example", "2001:DB8::/32"); err != nil || n != 1 {
		t.Fatalf("second Add = %d, %v; want 1, nil", n, err)
	}
	if _, err := r.Add(ctx, "org-b", "192.0.2.64/26"); err != nil {
		t.Fatal(err)
	}

	// All-or-nothing: one bad resource stores nothing, and is named.
	_, err = r.Add(ctx, "org-b", "198.51.100.0/24", "not a resource", "AS0")
	if !errors.Is(err, errkind.Invalid) || !strings.Contains(err.Error(), `"not a resource"`) || !strings.Contains(err.Error(), `"AS0"`) {
		t.Fatalf("bad Add error = %v", err)
	}
	if _, err := r.Add(ctx, "", "198.51.100.0/24"); !errors.Is(err, errkind.Invalid) {
		t.Fatalf("Add without org: %v", err)
	}

	want := []string{"org-a 192.0.2.0/24", "org-a 2001:db8::/32", "org-a AS64500", "org-a xn--bcher-kva.example", "org-b 192.0.2.64/26"}
	slices.Sort(want)
	got := resources(t, r, "")
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("List = %q, want %q", got, want)
	}
	if got := resources(t, r, "org-b"); !slices.Equal(got, []string{"org-b 192.0.2.64/26"}) {
		t.Fatalf("List(org-b) = %q", got)
	}

	// Persistent: reopen.
	r.Close()
	r = open(t, dir)
	if got := resources(t, r, "org-a"); len(got) != 4 {
		t.Fatalf("after reopen List(org-a) = %q", got)
	}

	tab, err := r.Table(ctx, route.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for v, owner := range map[string]string{"192.0.2.70": "org-b", "192.0.2.1": "org-a", "www.bücher.example": "org-a", "2001:db8::1": "org-a"} {
		if got := tab.Route(v); !slices.Equal(got, []route.Owner{route.Owner(owner)}) {
			t.Errorf("Route(%s) = %v, want [%s]", v, got, owner)
		}
	}

	// Remove is all-or-nothing too.
	_, err = r.Remove(ctx, "org-a", "192.0.2.0/24", "198.51.100.0/24")
	var nr *NotRegisteredError
	if !errors.Is(err, errkind.NotFound) || !errors.As(err, &nr) || !slices.Equal(nr.Resources, []string{"198.51.100.0/24"}) {
		t.Fatalf("Remove of unregistered: %v", err)
	}
	if _, err := r.Remove(ctx, "org-a", "192.0.2.0/24", "junk!"); !errors.Is(err, errkind.Invalid) {
		t.Fatalf("Remove of bad resource: %v", err)
	}
	if got := resources(t, r, "org-a"); len(got) != 4 {
		t.Fatalf("failed Remove removed something: %q", got)
	}
	if n, err := r.Remove(ctx, "org-a", "192.0.2.1/24", "BÜCHER.example"); err != nil || n != 2 {
		t.Fatalf("Remove = %d, %v; want 2, nil", n, err)
	}
	if got := resources(t, r, "org-a"); !slices.Equal(got, []string{"org-a 2001:db8::/32", "org-a AS64500"}) {
		t.Fatalf("after Remove: %q", got)
	}
}
