package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/kizuna-cti/kizuna/internal/sharing"
	"github.com/kizuna-cti/kizuna/internal/stix"
	"github.com/kizuna-cti/kizuna/internal/store"
)

// The shared real data, relative to this package (repo root is ../..).
const (
	medallionExchanges = "../../../shared/data/conformance/medallion-http-exchanges.json"
	medallionData      = "../../../shared/data/taxii/medallion/medallion/test/data/default_data.json"
)

// Collections of the OASIS reference server's test data.
const (
	medHighValue  = "91a7b528-80eb-42ed-a74d-c6fbd5a26116" // objects, read/write
	medAdd        = "365fed99-08fa-fdcd-a1b3-fb247eb41d01" // empty, read/write
	medReadOnly   = "52892447-4d7e-4f70-b94d-d7f22742ff63"
	medWriteOnly  = "472c94ae-3113-4e3e-a4dd-a9f4ac7471d4"
	medNoAccess   = "64993447-4d7e-4f70-b94d-d7f33742ee63"
	medallionRoot = "trustgroup1"
)

type exchange struct {
	Seq     int    `json:"seq"`
	Test    string `json:"test"`
	Request struct {
		Method  string            `json:"method"`
		Path    string            `json:"path"`
		Query   string            `json:"query"`
		Headers map[string]string `json:"headers"`
		Body    *struct {
			JSON json.RawMessage `json:"json"`
		} `json:"body"`
	} `json:"request"`
	Response struct {
		Status int `json:"status"`
		Body   *struct {
			JSON json.RawMessage `json:"json"`
		} `json:"body"`
	} `json:"response"`
}

func readShared(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		t.Skipf("shared data %s absent: skipping the medallion replay", path)
	}
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// seedMedallion creates the reference server's API root and collections and
// stores the objects of its "High Value Indicator" collection in the order
// of their date_added, as GREEN objects of acme (visible to alice).
func seedMedallion(t *testing.T, f *fixture) {
	t.Helper()
	var data map[string]struct {
		Collections []struct {
			ID       string            `json:"id"`
			Title    string            `json:"title"`
			Objects  []json.RawMessage `json:"objects"`
			Manifest []struct {
				ID, Version string
				DateAdded   string `json:"date_added"`
			} `json:"manifest"`
		} `json:"collections"`
	}
	if err := json.Unmarshal(readShared(t, medallionData), &data); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := f.st.CreateAPIRoot(ctx, store.APIRoot{Name: medallionRoot, Title: "Malware Research Group", MaxContentLength: 9765625}); err != nil {
		t.Fatal(err)
	}
	rights := map[string][2][]string{
		medHighValue: {{"*"}, {"*"}},
		medAdd:       {{"*"}, {"*"}},
		medReadOnly:  {{"*"}, {orgBeta}},
		medWriteOnly: {{orgBeta}, {"*"}},
		medNoAccess:  {{orgBeta}, {orgBeta}},
	}
	for _, c := range data[medallionRoot].Collections {
		r := rights[c.ID]
		if err := f.st.CreateCollection(ctx, store.Collection{ID: c.ID, APIRoot: medallionRoot, Title: c.Title, ReadOrgs: r[0], WriteOrgs: r[1]}); err != nil {
			t.Fatal(err)
		}
		if c.ID != medHighValue {
			continue
		}
		objs := map[string]*stix.Object{}
		for _, raw := range c.Objects {
			o, err := stix.Parse(raw)
			if err != nil {
				t.Fatal(err)
			}
			objs[o.ID+"@"+o.Version()] = o
		}
		// Store one version at a time in manifest (date_added) order.
		slices.SortStableFunc(c.Manifest, func(a, b struct {
			ID, Version string
			DateAdded   string `json:"date_added"`
		}) int {
			return strings.Compare(a.DateAdded, b.DateAdded)
		})
		for _, m := range c.Manifest {
			o := objs[m.ID+"@"+m.Version]
			if o == nil {
				t.Fatalf("manifest entry %s@%s without object", m.ID, m.Version)
			}
			res, err := f.st.Add(ctx, c.ID, []store.Record{{Object: o, Label: sharing.Label{TLP: sharing.TLPGreen, ProducerOrg: orgAcme}}}, "")
			if err != nil || res[0].Err != nil {
				t.Fatalf("seeding %s: %v %v", o.ID, err, res)
			}
		}
	}
}

// objectKeys lists "id@version" of an envelope's objects, a manifest's
// records or a versions list.
func objectKeys(body json.RawMessage) (keys []string, more any) {
	var v struct {
		More     any               `json:"more"`
		Objects  []json.RawMessage `json:"objects"`
		Versions []string          `json:"versions"`
	}
	json.Unmarshal(body, &v)
	for _, raw := range v.Objects {
		var o struct{ ID, Version, Modified, Created string }
		json.Unmarshal(raw, &o)
		ver := o.Version
		if ver == "" {
			ver = o.Modified
		}
		if ver == "" {
			ver = o.Created
		}
		keys = append(keys, o.ID+"@"+ver)
	}
	keys = append(keys, v.Versions...)
	return keys, v.More
}

// TestMedallionReplay replays the reference server's recorded read
// exchanges against Kizuna seeded with the same data and compares status
// codes, the objects of each page (id and version), versions and "more".
// Exchanges that depend on the reference server's own clock (added_after,
// next cursors, status ids) or follow writes to the collections are left
// out. Deliberate difference: a collection the caller has no right on at
// all answers 404 (Kizuna does not reveal it exists), not 403.
func TestMedallionReplay(t *testing.T) {
	var file struct {
		Exchanges []exchange `json:"exchanges"`
	}
	if err := json.Unmarshal(readShared(t, medallionExchanges), &file); err != nil {
		t.Fatal(err)
	}
	f := newFixture(t)
	seedMedallion(t, f)
	mutated := map[string]bool{}
	replayed := 0
	for _, ex := range file.Exchanges {
		rq := ex.Request
		if !strings.Contains(ex.Test, "[memory]") {
			continue
		}
		if rq.Method != "GET" {
			for _, c := range []string{medHighValue, medAdd} {
				if strings.Contains(rq.Path, c) {
					mutated[c] = true
				}
			}
			continue
		}
		if !strings.HasPrefix(rq.Path, "/"+medallionRoot+"/") && !strings.HasPrefix(rq.Path, "/trustgroup2/") {
			continue
		}
		if strings.Contains(rq.Query, "added_after") || strings.Contains(rq.Query, "next=") ||
			(strings.Contains(rq.Path, "/status/") && ex.Response.Status == 200) ||
			mutated[medHighValue] && strings.Contains(rq.Path, medHighValue) || strings.Contains(rq.Path, medAdd) {
			continue
		}
		name := fmt.Sprintf("%03d %s?%s", ex.Seq, rq.Path, rq.Query)
		t.Run(name, func(t *testing.T) {
			r := req{path: "/taxii2" + rq.Path, header: map[string]string{"Accept": rq.Headers["Accept"]}}
			if rq.Query != "" {
				r.path += "?" + rq.Query
			}
			if rq.Headers["Authorization"] != "" {
				r.user = "alice"
			}
			got := f.do(r)
			want := ex.Response.Status
			if want == 403 && strings.Contains(rq.Path, medNoAccess) {
				want = 404
			}
			if got.status != want {
				t.Fatalf("status %d, reference %d: %s", got.status, want, got.body)
			}
			if want != 200 || ex.Response.Body == nil {
				return
			}
			wantKeys, wantMore := objectKeys(ex.Response.Body.JSON)
			gotKeys, gotMore := objectKeys(got.body)
			// The reference data has equal date_added values (whose
			// order is unspecified); which objects a page holds is compared.
			slices.Sort(wantKeys)
			slices.Sort(gotKeys)
			if !slices.Equal(gotKeys, wantKeys) {
				t.Errorf("objects\n got %v\nwant %v", gotKeys, wantKeys)
			}
			if wantMore != nil && gotMore != wantMore {
				t.Errorf("more = %v, reference %v", gotMore, wantMore)
			}
		})
		replayed++
	}
	if replayed < 30 {
		t.Errorf("only %d exchanges replayed", replayed)
	}
	t.Logf("replayed %d reference exchanges", replayed)
}

// TestMedallionReplayWrites replays, one reference test at a time on a fresh
// hub, the recorded exchanges that write to the reference server's empty
// collection (add, read back, status, delete by version and spec version,
// SCO versions, re-adding present objects, a body without "objects"), as a
// hub admin (who may delete). Status ids are mapped from the reference's to
// Kizuna's; exchanges depending on the reference's clock are left out.
func TestMedallionReplayWrites(t *testing.T) {
	var file struct {
		Exchanges []exchange `json:"exchanges"`
	}
	if err := json.Unmarshal(readShared(t, medallionExchanges), &file); err != nil {
		t.Fatal(err)
	}
	groups := map[string][]exchange{}
	var order []string
	for _, ex := range file.Exchanges {
		if !strings.Contains(ex.Test, "[memory]") || !strings.Contains(ex.Request.Path, medAdd) {
			continue
		}
		if _, ok := groups[ex.Test]; !ok {
			order = append(order, ex.Test)
		}
		groups[ex.Test] = append(groups[ex.Test], ex)
	}
	// Status reads belong to the test that made the status.
	for _, ex := range file.Exchanges {
		if strings.Contains(ex.Request.Path, "/status/") && groups[ex.Test] != nil {
			g := groups[ex.Test]
			i := slices.IndexFunc(g, func(e exchange) bool { return e.Seq > ex.Seq })
			if i < 0 {
				i = len(g)
			}
			groups[ex.Test] = slices.Insert(g, i, ex)
		}
	}
	// Submissions the reference accepts and Kizuna's STIX 2.1 validator
	// refuses (the rest of those reference tests depends on them).
	stricter := map[int]string{
		75:  "spec_version 2.0 object",
		80:  "artifact without payload_bin or url",
		109: "relationship without modified",
	}
	replayed := 0
	for _, test := range order {
		t.Run(strings.TrimPrefix(test, "medallion/test/test_backends.py::"), func(t *testing.T) {
			f := newFixture(t)
			seedMedallion(t, f)
			statusIDs := map[string]string{}
			for _, ex := range groups[test] {
				rq := ex.Request
				if strings.Contains(rq.Query, "added_after") || strings.Contains(rq.Query, "next=") {
					continue
				}
				path := "/taxii2" + rq.Path
				for ref, ours := range statusIDs {
					path = strings.ReplaceAll(path, ref, ours)
				}
				r := req{method: rq.Method, path: path, header: map[string]string{"Accept": rq.Headers["Accept"]}}
				if rq.Query != "" {
					r.path += "?" + rq.Query
				}
				if rq.Headers["Authorization"] != "" {
					r.user = "admin"
				}
				if rq.Body != nil {
					r.body = rq.Body.JSON
					r.header["Content-Type"] = rq.Headers["Content-Type"]
				}
				got := f.do(r)
				replayed++
				if why, ok := stricter[ex.Seq]; ok {
					st := got.json(t)
					fails, _ := st["failures"].([]any)
					if got.status != 202 || len(fails) == 0 {
						t.Fatalf("seq %d (%s): want 202 with a failure: %s", ex.Seq, why, got.body)
					}
					t.Logf("seq %d refused as expected (%s): %v", ex.Seq, why, fails[0].(map[string]any)["message"])
					return
				}
				if got.status != ex.Response.Status {
					t.Fatalf("seq %d %s %s?%s: status %d, reference %d: %s", ex.Seq, rq.Method, rq.Path, rq.Query, got.status, ex.Response.Status, got.body)
				}
				if ex.Response.Body == nil || got.status >= 300 {
					continue
				}
				var want, have map[string]any
				json.Unmarshal(ex.Response.Body.JSON, &want)
				json.Unmarshal(got.body, &have)
				if id, ok := want["id"].(string); ok && got.status == 202 {
					statusIDs[id] = have["id"].(string)
				}
				for _, k := range []string{"status", "total_count", "success_count", "failure_count", "pending_count", "more"} {
					if w, ok := want[k]; ok && fmt.Sprint(have[k]) != fmt.Sprint(w) {
						t.Errorf("seq %d %s %s: %s = %v, reference %v", ex.Seq, rq.Method, rq.Path, k, have[k], w)
					}
				}
				wantKeys, _ := objectKeys(ex.Response.Body.JSON)
				gotKeys, _ := objectKeys(got.body)
				slices.Sort(wantKeys)
				slices.Sort(gotKeys)
				if !slices.Equal(gotKeys, wantKeys) {
					t.Errorf("seq %d %s %s?%s: objects\n got %v\nwant %v", ex.Seq, rq.Method, rq.Path, rq.Query, gotKeys, wantKeys)
				}
			}
		})
	}
	t.Logf("replayed %d reference write exchanges", replayed)
}
