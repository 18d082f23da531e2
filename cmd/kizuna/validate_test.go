package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const stixFixtures = "../../testdata/stix"

// runValidate runs `kizuna validate` in-process.
func runValidate(t *testing.T, stdin []byte, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(context.Background(), append([]string{"validate"}, args...), bytes.NewReader(stdin), &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestValidateCommand(t *testing.T) {
	valid, _ := filepath.Glob(filepath.Join(stixFixtures, "*.json"))
	if len(valid) == 0 {
		t.Fatal("no fixtures")
	}
	badObject := []byte(`{"type":"indicator","spec_version":"2.1","id":"indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f","created":"2016-04-06T20:03:48.000Z","modified":"2016-04-06T20:03:48.000Z","pattern_type":"stix","pattern":"[ipv4-addr:value = '1.2.3.4']","valid_from":"2016-04-06T20:03:48Z","confidence":101}`)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	data, err := os.ReadFile(valid[0])
	if err != nil {
		t.Fatal(err)
	}
	zw.Write(data)
	zw.Close()

	tests := []struct {
		name      string
		args      []string
		stdin     []byte
		code      int
		outLines  []string // exact stdout lines, in order
		errSubstr string
	}{
		{name: "all fixtures valid", args: valid, code: 0, errSubstr: "0 invalid objects, 0 malformed inputs, 0 problems"},
		{name: "invalid object on stdin", args: []string{"-"}, stdin: badObject, code: 1,
			outLines:  []string{"-: indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f: confidence: must be at most 100, got 101"},
			errSubstr: "1 objects in 1 inputs: 1 invalid objects"},
		{name: "gzip on stdin", args: []string{"-"}, stdin: gz.Bytes(), code: 0},
		{name: "missing modified", args: []string{stixFixtures + "/invalid/validator-invalid_identity.json"}, code: 1,
			outLines: []string{stixFixtures + "/invalid/validator-invalid_identity.json: identity--8c6af861-7b20-41ef-9b59-6344fd872a8f: modified: required property missing"}},
		{name: "malformed JSON", args: []string{stixFixtures + "/invalid/validator-invalid_comma.json"}, code: 1,
			errSubstr: "1 malformed inputs"},
		{name: "bundle without id", args: []string{"-"}, stdin: []byte(`{"type":"bundle","objects":[]}`), code: 1,
			outLines: []string{"-: (bundle without id): id: required property missing"}},
		{name: "object without id", args: []string{"-"}, stdin: []byte(`[{"type":"x-foo"}]`), code: 1,
			outLines: []string{"-: (object 0 without id): id: required property missing or not a string"}},
		{name: "missing file", args: []string{filepath.Join(t.TempDir(), "nope.json")}, code: 2, errSubstr: "no such file"},
		{name: "no arguments", args: nil, code: 2, errSubstr: "kizuna: validate: at least one FILE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runValidate(t, tt.stdin, tt.args...)
			if code != tt.code {
				t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tt.code, out, errOut)
			}
			if tt.outLines != nil {
				got := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
				if strings.Join(got, "\n") != strings.Join(tt.outLines, "\n") {
					t.Errorf("stdout:\n%s\nwant:\n%s", out, strings.Join(tt.outLines, "\n"))
				}
			}
			if tt.code == 0 && out != "" {
				t.Errorf("unexpected stdout: %s", out)
			}
			if !strings.Contains(errOut, tt.errSubstr) {
				t.Errorf("stderr %q does not contain %q", errOut, tt.errSubstr)
			}
			for _, l := range strings.Split(strings.TrimSpace(errOut), "\n") {
				if l != "" && !strings.HasPrefix(l, "kizuna: ") {
					t.Errorf("stderr line %q lacks the kizuna: prefix", l)
				}
			}
		})
	}
}
