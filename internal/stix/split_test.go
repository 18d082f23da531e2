package stix

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"io"
	"os"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/kizuna-cti/kizuna/internal/errkind"
	"github.com/kizuna-cti/kizuna/internal/realdata"
)

// referenceReadInput is ReadInput as it was before the byte-level
// splitter: encoding/json tokens, each object decoded into a RawMessage.
// It is the oracle of the differential tests.
func referenceReadInput(r io.Reader, fn func(i int, raw json.RawMessage) error) (*Envelope, error) {
	dec := json.NewDecoder(r)
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	n := 0
	readArray := func() error {
		for dec.More() {
			var raw json.RawMessage
			if err := dec.Decode(&raw); err != nil {
				return err
			}
			if err := fn(n, raw); err != nil {
				return err
			}
			n++
		}
		_, err := dec.Token()
		return err
	}
	switch tok {
	case json.Delim('['):
		if err := readArray(); err != nil {
			return nil, err
		}
		return &Envelope{Kind: "array"}, refTrailing(dec)
	case json.Delim('{'):
	default:
		return nil, errors.New("not an object or array")
	}
	var single bytes.Buffer
	single.WriteByte('{')
	props := map[string]json.RawMessage{}
	sawObjects := false
	typ := ""
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			return nil, err
		}
		key, _ := kt.(string)
		var v json.RawMessage
		if key == "objects" {
			t, err := dec.Token()
			if err != nil {
				return nil, err
			}
			if t == json.Delim('[') && (typ == "" || typ == "bundle") && !sawObjects {
				if err := readArray(); err != nil {
					return nil, err
				}
				sawObjects = true
				continue
			}
			if v, err = refRebuild(dec, t); err != nil {
				return nil, err
			}
		} else if err := dec.Decode(&v); err != nil {
			return nil, err
		}
		if key == "type" {
			_ = json.Unmarshal(v, &typ)
		}
		props[key] = v
		if single.Len() > 1 {
			single.WriteByte(',')
		}
		kb, _ := json.Marshal(key)
		single.Write(kb)
		single.WriteByte(':')
		single.Write(v)
	}
	if _, err := dec.Token(); err != nil {
		return nil, err
	}
	if err := refTrailing(dec); err != nil {
		return nil, err
	}
	if sawObjects {
		if typ != "" && typ != "bundle" {
			return nil, errors.New("objects list before a non-bundle type")
		}
		kind := "envelope"
		if _, ok := props["type"]; ok {
			kind = "bundle"
		}
		return &Envelope{Kind: kind, Props: props}, nil
	}
	single.WriteByte('}')
	return &Envelope{Kind: "object"}, fn(0, single.Bytes())
}

func refTrailing(dec *json.Decoder) error {
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("trailing data")
	}
	return nil
}

// refRebuild re-encodes a value whose first token t has been read.
func refRebuild(dec *json.Decoder, t json.Token) (json.RawMessage, error) {
	switch t {
	case json.Delim('['), json.Delim('{'):
		var parts []any
		for dec.More() {
			if t == json.Delim('{') {
				kt, err := dec.Token()
				if err != nil {
					return nil, err
				}
				parts = append(parts, kt)
			}
			var raw json.RawMessage
			if err := dec.Decode(&raw); err != nil {
				return nil, err
			}
			parts = append(parts, raw)
		}
		if _, err := dec.Token(); err != nil {
			return nil, err
		}
		if t == json.Delim('[') {
			return json.Marshal(parts)
		}
		m := map[string]json.RawMessage{}
		for i := 0; i < len(parts); i += 2 {
			m[parts[i].(string)] = parts[i+1].(json.RawMessage)
		}
		return json.Marshal(m)
	}
	return json.Marshal(t)
}

// readerKinds feed an input to ReadInput in different chunkings, so that
// every refill path of the splitter's window is taken.
var readerKinds = []struct {
	name string
	wrap func([]byte) io.Reader
}{
	{"whole", func(b []byte) io.Reader { return bytes.NewReader(b) }},
	{"one byte", func(b []byte) io.Reader { return iotest.OneByteReader(bytes.NewReader(b)) }},
	{"data with EOF", func(b []byte) io.Reader { return iotest.DataErrReader(bytes.NewReader(b)) }},
	{"7-byte chunks", func(b []byte) io.Reader { return &chunkReader{b: b, n: 7} }},
}

// chunkReader returns at most n bytes per Read, and 0, nil every other call.
type chunkReader struct {
	b    []byte
	n    int
	tick bool
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(c.b) == 0 {
		return 0, io.EOF
	}
	if c.tick = !c.tick; c.tick {
		return 0, nil
	}
	k := copy(p[:min(len(p), c.n)], c.b)
	c.b = c.b[k:]
	return k, nil
}

// splitResult is what a ReadInput run yields.
type splitResult struct {
	env  *Envelope
	raws [][]byte
	err  error
}

func runSplit(read func(io.Reader, func(int, json.RawMessage) error) (*Envelope, error), r io.Reader) splitResult {
	var res splitResult
	res.env, res.err = read(r, func(i int, raw json.RawMessage) error {
		if i != len(res.raws) {
			return errors.New("index out of order")
		}
		res.raws = append(res.raws, append([]byte(nil), raw...))
		return nil
	})
	return res
}

// sameJSON reports whether a and b are the same JSON value.
func sameJSON(a, b []byte) bool {
	if bytes.Equal(a, b) {
		return true
	}
	var x, y any
	da, db := json.NewDecoder(bytes.NewReader(a)), json.NewDecoder(bytes.NewReader(b))
	da.UseNumber()
	db.UseNumber()
	if da.Decode(&x) != nil || db.Decode(&y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}

// checkSplitAgrees compares ReadInput with the encoding/json reference on
// data fed through r: the same verdict, the same objects (bytes equal for
// streamed objects; the same JSON value for a single object, which the
// reference re-encodes) and the same container.
func checkSplitAgrees(t *testing.T, data []byte, r io.Reader) {
	t.Helper()
	want := runSplit(referenceReadInput, bytes.NewReader(data))
	got := runSplit(ReadInput, r)
	if (got.err == nil) != (want.err == nil) {
		t.Fatalf("on %q:\nReadInput err = %v\nreference err = %v", data, got.err, want.err)
	}
	if got.err != nil {
		if !errors.Is(got.err, ErrInvalidInput) || !errors.Is(got.err, errkind.Invalid) {
			t.Fatalf("error %v does not wrap ErrInvalidInput", got.err)
		}
		if len(got.raws) != len(want.raws) {
			t.Fatalf("on %q: %d objects before the error, reference %d", data, len(got.raws), len(want.raws))
		}
	}
	if len(got.raws) != len(want.raws) {
		t.Fatalf("on %q: %d objects, reference %d", data, len(got.raws), len(want.raws))
	}
	single := got.err == nil && got.env.Kind == "object"
	for i := range got.raws {
		if !bytes.Equal(got.raws[i], want.raws[i]) && !(single && sameJSON(got.raws[i], want.raws[i])) {
			t.Fatalf("on %q: object %d:\n%s\nreference:\n%s", data, i, got.raws[i], want.raws[i])
		}
	}
	if got.err != nil {
		return
	}
	if got.env.Kind != want.env.Kind || len(got.env.Props) != len(want.env.Props) {
		t.Fatalf("on %q: envelope %+v, reference %+v", data, got.env, want.env)
	}
	for k, v := range want.env.Props {
		if !sameJSON(got.env.Props[k], v) {
			t.Fatalf("on %q: property %q = %s, reference %s", data, k, got.env.Props[k], v)
		}
	}
}

// splitCases are inputs with the corners of the grammar and of the
// container rules, valid and not.
var splitCases = []string{
	`{"type":"bundle","id":"bundle--1","objects":[{"type":"x-a","id":"x-a--1"},{"type":"x-b"}]}`,
	" \n\t{ \"objects\" : [ { \"a\" : [ 1 , 2.5e-3 , -0 , true , false , null , \"}]\\\"[{\" ] } ,\r\n {} , [] ] , \"type\" : \"bundle\" } \n",
	`{"id":"bundle--2","objects":[{"s":"\"\\\/\b\f\n\r\t\u00e9\uD83D\uDE00"}],"type":"bundle"}`,
	`{"\u006fbjects":[{"a":1}],"more":true}`,
	`{"t\u0079pe":"bundle","objects":[{"a":1}]}`,
	`{"type":"observed-data","objects":[{"type":"file"}]}`,
	`{"type":"observed-data","objects":{"0":{"type":"file"}}}`,
	`{"objects":[{"a":1}],"type":"indicator"}`,
	`{"objects":[{"a":1}],"objects":[{"b":2}]}`,
	`{"objects":[{"a":1}],"objects":7}`,
	`{"type":7,"objects":[{}]}`,
	`{"type":null,"objects":[{}]}`,
	`{"objects":[]}`,
	`{"objects":[1,"two",[3],{"4":4},null]}`,
	`{}`,
	`[]`,
	`[ {"a":"é"} , {"b":"\u0000"} ]`,
	"[{\"a\":\"\xff\xfe\"}]",
	`{"a":{"b":[{"c":{}}]},"type":"x-a"}`,
	`{"type":"x-a","objects":"x","id":"x-a--1"}`,
	// invalid
	``, ` `, `42`, `"s"`, `true`, `null`, `x`, "\xef\xbb\xbf{}",
	`{`, `[`, `{"objects":[`, `{"objects":[{"a":1}`, `{"objects":[{"a":1},`, `{"objects":[{"a":1}]`,
	`[{"a":1},]`, `[,]`, `{"a":1,}`, `{,}`, `{"a" 1}`, `{"a":}`, `{a:1}`, `{"a":1 "b":2}`,
	`[{"a":01}]`, `[{"a":1.}]`, `[{"a":-}]`, `[{"a":1e}]`, `[{"a":1e+}]`, `[{"a":.5}]`, `[{"a":+1}]`, `[{"a":-01}]`,
	`[{"a":tru}]`, `[{"a":nul}]`, `[{"a":falsey}]`, `[{"a":truefalse}]`,
	`[{"a":"\x"}]`, `[{"a":"\u12G4"}]`, `[{"a":"\u12"}]`, "[{\"a\":\"\x01\"}]", "[{\"a\":\"\n\"}]", `[{"a":"unterminated`,
	`[{"a":1}] x`, `{"type":"x-a"} {"type":"x-b"}`, `[{"a":1}]]`, `{"objects":[{"a":1}]}}`,
	`[{"a":[1,2}]`, `[{"a":{"b":1]}]`, `[{"a":1}}`, `{"objects":[{"a":1}] "type":"bundle"}`,
}

func TestReadInputMatchesEncodingJSON(t *testing.T) {
	for _, in := range splitCases {
		for _, rk := range readerKinds {
			t.Run(rk.name, func(t *testing.T) {
				checkSplitAgrees(t, []byte(in), rk.wrap([]byte(in)))
			})
		}
	}
}

// TestReadInputErrorsNamePlace: errors name the object index and the byte
// offset of the fault.
func TestReadInputErrorsNamePlace(t *testing.T) {
	tests := []struct{ in, want string }{
		{`{"type":"bundle","objects":[{"a":1},{"a":tru}]}`, `object 1: byte offset 44: invalid character '}' in literal true`},
		{`{"type":"bundle","objects":[{"a":1},{"a":"x`, `object 1: byte offset 43: unexpected end of JSON input`},
		{`[{"a":1} {"b":2}]`, `after object 0: byte offset 9: invalid character '{' after array element`},
		{`{"type":"bundle","id":12x,"objects":[]}`, `after property "id": byte offset 24: invalid character 'x' after object key:value pair`},
		{`{"type":"x-a"} junk`, `unexpected data after the top-level JSON value at byte offset 15`},
		{`42`, `expected a JSON object or array, found a number`},
	}
	for _, tt := range tests {
		_, err := ReadInput(strings.NewReader(tt.in), func(int, json.RawMessage) error { return nil })
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ReadInput(%s) = %v, want an error containing %q", tt.in, err, tt.want)
		}
		if !errors.Is(err, errkind.Invalid) {
			t.Errorf("ReadInput(%s): %v is not errkind.Invalid", tt.in, err)
		}
	}
}

// TestReadInputLargeObject: an object larger than the initial window,
// arriving a few bytes at a time, comes out whole.
func TestReadInputLargeObject(t *testing.T) {
	big := `{"type":"x-a","d":"` + strings.Repeat(`ab\"c`, 3*splitBufSize/5) + `"}`
	in := `{"objects":[{"a":1},` + big + `,{"b":2}]}`
	for _, rk := range readerKinds[1:] {
		res := runSplit(ReadInput, rk.wrap([]byte(in)))
		if res.err != nil || len(res.raws) != 3 || string(res.raws[1]) != big {
			t.Errorf("%s: err %v, %d objects", rk.name, res.err, len(res.raws))
		}
	}
}

// TestReadInputReadError: a failing reader is reported with its error.
func TestReadInputReadError(t *testing.T) {
	boom := errors.New("disk on fire")
	r := io.MultiReader(strings.NewReader(`{"objects":[{"a":1},{"b"`), iotest.ErrReader(boom))
	res := runSplit(ReadInput, r)
	if !errors.Is(res.err, boom) || !strings.Contains(res.err.Error(), "object 1") || len(res.raws) != 1 {
		t.Fatalf("err = %v after %d objects, want %v at object 1", res.err, len(res.raws), boom)
	}
}

// TestReadInputRealBundles: on every real ATT&CK and OASIS file, and on
// the full ATT&CK Enterprise bundle, the splitter yields byte for byte the
// objects encoding/json yields.
func TestReadInputRealBundles(t *testing.T) {
	files := realFiles(t)
	var inputs [][]byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		inputs = append(inputs, b)
	}
	if ent := enterpriseBundle(t); ent != nil {
		inputs = append(inputs, ent)
	}
	objects := 0
	for i, b := range inputs {
		want := runSplit(referenceReadInput, bytes.NewReader(b))
		got := runSplit(ReadInput, &chunkReader{b: b, n: 4093})
		if want.err != nil || got.err != nil || len(got.raws) != len(want.raws) {
			t.Fatalf("input %d: %d objects (err %v), reference %d (err %v)", i, len(got.raws), got.err, len(want.raws), want.err)
		}
		for j := range got.raws {
			if !bytes.Equal(got.raws[j], want.raws[j]) && !(got.env.Kind == "object" && sameJSON(got.raws[j], want.raws[j])) {
				t.Fatalf("input %d, object %d differs", i, j)
			}
		}
		objects += len(got.raws)
	}
	t.Logf("%d inputs, %d objects", len(inputs), objects)
}

// enterpriseBundle returns the decompressed ATT&CK Enterprise bundle (nil
// with -short).
func enterpriseBundle(t testing.TB) []byte {
	if testing.Short() {
		return nil
	}
	f, err := os.Open(realdata.Path(t, "stix/enterprise-attack-18.1-derived-stix21.json.gz"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// FuzzReadInputMatchesEncodingJSON: the byte-level splitter agrees with
// encoding/json on every input, whatever the reader's chunking.
func FuzzReadInputMatchesEncodingJSON(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	for _, s := range splitCases {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		rk := readerKinds[len(data)%len(readerKinds)]
		checkSplitAgrees(t, data, rk.wrap(data))
	})
}

// BenchmarkReadInput splits the ATT&CK Enterprise bundle (24,771 objects,
// in memory): the byte-level splitter against the encoding/json reference.
func BenchmarkReadInput(b *testing.B) {
	data := enterpriseBundle(b)
	if data == nil {
		b.Skip("-short")
	}
	for _, impl := range []struct {
		name string
		read func(io.Reader, func(int, json.RawMessage) error) (*Envelope, error)
	}{{"splitter", ReadInput}, {"encoding-json", referenceReadInput}} {
		b.Run(impl.name, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := impl.read(bytes.NewReader(data), func(int, json.RawMessage) error { return nil }); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
