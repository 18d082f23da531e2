package client

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
)

// exchangesFile holds the HTTP requests the OASIS reference client
// (taxii2-client) sends in its own tests and the replies it expects.
const exchangesFile = "../../../../shared/data/conformance/taxii2client-http-exchanges.json"

type exchange struct {
	Test    string `json:"test"`
	Request struct {
		Method  string            `json:"method"`
		URL     string            `json:"url"`
		Headers map[string]string `json:"headers"`
		Body    *struct {
			JSON json.RawMessage `json:"json"`
		} `json:"body"`
	} `json:"request"`
	Response *struct {
		Status  int               `json:"status"`
		Headers map[string]string `json:"headers"`
		Body    struct {
			JSON json.RawMessage `json:"json"`
			Text *string         `json:"text"`
		} `json:"body"`
	} `json:"response"`
}

// replay answers every request with one recorded reply and keeps the request.
type replay struct {
	ex   exchange
	got  *http.Request
	body []byte
}

func (r *replay) RoundTrip(req *http.Request) (*http.Response, error) {
	r.got = req
	if req.Body != nil {
		r.body, _ = io.ReadAll(req.Body)
	}
	resp := r.ex.Response
	body := []byte(resp.Body.JSON)
	if resp.Body.Text != nil {
		body = []byte(*resp.Body.Text)
	}
	h := http.Header{}
	for k, v := range resp.Headers {
		h.Set(k, v)
	}
	return &http.Response{StatusCode: resp.Status, Header: h, Body: io.NopCloser(bytes.NewReader(body)), Request: req}, nil
}

// TestReferenceClientExchanges replays the TAXII 2.1 exchanges of the OASIS
// reference client: for each recorded request this client makes the same
// request (method, path, query, Accept, Content-Type) and parses the
// recorded reply, failing exactly where the reply is not TAXII 2.1 JSON.
func TestReferenceClientExchanges(t *testing.T) {
	data, err := os.ReadFile(exchangesFile)
	if os.IsNotExist(err) {
		t.Skip("conformance exchanges not present (../shared/data)")
	}
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Exchanges []exchange `json:"exchanges"`
	}
	if err := json.Unmarshal(data, &file); err != nil {
		t.Fatal(err)
	}
	n := 0
	for i, ex := range file.Exchanges {
		if !strings.Contains(ex.Test, "v21") || ex.Response == nil {
			continue
		}
		// The reference client's own mis-negotiated Accept headers (tests of
		// its error paths) are not requests this client would send.
		if acc := ex.Request.Headers["Accept"]; acc != MediaTAXII {
			continue
		}
		n++
		t.Run(strconv.Itoa(i)+"_"+ex.Test[strings.Index(ex.Test, "::")+2:], func(t *testing.T) {
			u, err := url.Parse(ex.Request.URL)
			if err != nil {
				t.Fatal(err)
			}
			rt := &replay{ex: ex}
			c, err := New(Options{APIRoot: "https://example.com/api1/", User: "foo", Password: "bar", Retries: -1, HTTP: &http.Client{Transport: rt}})
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			p := strings.TrimPrefix(u.Path, "/api1/")
			parts := strings.Split(strings.TrimSuffix(p, "/"), "/")
			q := Query{}
			if l := u.Query().Get("limit"); l != "" {
				q.Limit, _ = strconv.Atoi(l)
			}
			var callErr error
			switch {
			case u.Path == "/taxii2/":
				_, callErr = c.Discover(ctx, ex.Request.URL)
			case p == "":
				_, callErr = c.APIRoot(ctx)
			case p == "collections/":
				_, callErr = c.Collections(ctx)
			case parts[0] == "status":
				_, callErr = c.GetStatus(ctx, parts[1])
			case len(parts) == 2:
				_, callErr = c.Collection(ctx, parts[1])
			case len(parts) == 3 && parts[2] == "manifest":
				_, callErr = c.Manifest(ctx, parts[1], q)
			case len(parts) == 3 && ex.Request.Method == http.MethodPost:
				var env struct {
					Objects []json.RawMessage `json:"objects"`
				}
				if err := json.Unmarshal(ex.Request.Body.JSON, &env); err != nil {
					t.Fatal(err)
				}
				_, callErr = c.AddObjects(ctx, parts[1], env.Objects)
			case len(parts) == 3:
				_, callErr = c.GetObjects(ctx, parts[1], q)
			case len(parts) == 4:
				_, callErr = c.GetObject(ctx, parts[1], parts[3], q)
			default:
				t.Skipf("no client call for %s %s", ex.Request.Method, ex.Request.URL)
			}
			got := rt.got
			if got == nil {
				t.Fatalf("no request made (err %v)", callErr)
			}
			if got.Method != ex.Request.Method || got.URL.Path != u.Path || got.URL.RawQuery != u.RawQuery {
				t.Errorf("request %s %s, reference %s %s", got.Method, got.URL, ex.Request.Method, ex.Request.URL)
			}
			for _, h := range []string{"Accept", "Content-Type", "Authorization"} {
				if want, ok := ex.Request.Headers[h]; ok && got.Header.Get(h) != want {
					t.Errorf("%s %q, reference %q", h, got.Header.Get(h), want)
				}
			}
			if ex.Request.Body != nil && len(ex.Request.Body.JSON) > 0 {
				var a, b any
				_ = json.Unmarshal(rt.body, &a)
				_ = json.Unmarshal(ex.Request.Body.JSON, &b)
				ja, _ := json.Marshal(a)
				jb, _ := json.Marshal(b)
				if !bytes.Equal(ja, jb) {
					t.Errorf("body %s, reference %s", rt.body, ex.Request.Body.JSON)
				}
			}
			resp := ex.Response
			wantErr := resp.Status >= 300 || resp.Body.Text != nil || checkMedia(resp.Headers["Content-Type"]) != nil
			if (callErr != nil) != wantErr {
				t.Errorf("error %v, want error: %v (reply %d %q)", callErr, wantErr, resp.Status, resp.Headers["Content-Type"])
			}
		})
	}
	if n < 30 {
		t.Fatalf("only %d TAXII 2.1 exchanges replayed", n)
	}
}
