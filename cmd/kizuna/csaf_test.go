package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kizuna-cti/kizuna/internal/sharing"
)

const csafTestdata = "../../internal/csaf/testdata"

// runCSAF runs `kizuna csaf ...` in-process.
func runCSAF(t *testing.T, stdin []byte, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(context.Background(), append([]string{"csaf"}, args...), bytes.NewReader(stdin), &out, &errOut)
	return code, out.String(), errOut.String()
}

// csafRecipient is the recipient organisation of the AMBER draft.
const csafRecipient = "identity--00000000-0000-4000-8000-0000000000a1"

func TestCSAFCommands(t *testing.T) {
	dir := t.TempDir()
	bsi := filepath.Join(csafTestdata, "bsi-2022-0001.json")
	rhsa := filepath.Join(csafTestdata, "rhsa-2021_5217.json")
	draft := filepath.Join(csafTestdata, "draft-amber.yaml")
	b, err := os.ReadFile(bsi)
	if err != nil {
		t.Fatal(err)
	}
	broken := bytes.Replace(b, []byte(`"version": "1"`), []byte(`"version": "2"`), 1)
	if bytes.Equal(broken, b) {
		t.Fatal("replacement did nothing")
	}

	tests := []struct {
		name   string
		args   []string
		stdin  []byte
		code   int
		out    []string // substrings of stdout
		errOut string
		errNot string // must not be on stderr
	}{
		{name: "validate valid", args: []string{"validate", bsi, rhsa}, code: 0, errOut: "2 documents, 0 invalid"},
		{name: "validate broken on stdin", args: []string{"validate", "-"}, stdin: broken, code: 1,
			out: []string{"-: 6.1.16 /document/tracking/version: version \"2\" is not the number of the latest revision"}, errOut: "1 documents, 1 invalid"},
		{name: "validate YAML as is", args: []string{"validate", draft}, code: 1, out: []string{"not JSON"}},
		{name: "validate draft completed", args: []string{"validate", "--draft", draft}, code: 0},
		{name: "validate nothing", args: []string{"validate"}, code: 2, errOut: "at least one FILE"},
		{name: "publish without data", args: []string{"publish", bsi}, code: 2, errOut: "--data DIR is required"},
		{name: "publish as is", args: []string{"publish", "--data", dir, "--as-is", bsi, rhsa}, code: 0,
			out:    []string{"WHITE\twhite/2022/bsi-2022-0001.json\tBSI-2022-0001\t1\n", "WHITE\twhite/2021/rhsa-2021_5217.json\tRHSA-2021:5217\t1\n"},
			errOut: "kizuna: RHSA-2021:5217: 1 vulnerability records added, 0 updated, 2 STIX objects"},
		{name: "publish again", args: []string{"publish", "--data", dir, "--as-is", bsi}, code: 0,
			errOut: "kizuna: BSI-2022-0001: 0 vulnerability records added, 0 updated, 0 STIX objects"},
		{name: "publish draft", args: []string{"publish", "--data", dir, "--org", csafRecipient, draft}, code: 0, out: []string{"AMBER\tamber/"},
			errOut: "kizuna: KIZUNA-2026-0001: 1 vulnerability records added, 0 updated, 2 STIX objects"},
		{name: "publish broken", args: []string{"publish", "--data", dir, "--as-is", "-"}, stdin: broken, code: 1,
			out: []string{"6.1.16"}, errOut: "not published"},
		{name: "publish draft without TLP", args: []string{"publish", "--data", dir, "-"}, code: 1,
			stdin: []byte(`{"document":{"category":"csaf_base","title":"t","publisher":{"category":"coordinator","name":"n","namespace":"https://kizuna.invalid"},"tracking":{"id":"X"}}}`), errOut: "tlp.label"},
		{name: "list", args: []string{"list", "--data", dir}, code: 0, out: []string{"KIZUNA-2026-0001", "BSI-2022-0001", "RHSA-2021:5217"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runCSAF(t, tt.stdin, tt.args...)
			if code != tt.code {
				t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tt.code, out, errOut)
			}
			for _, s := range tt.out {
				if !strings.Contains(out, s) {
					t.Errorf("stdout lacks %q:\n%s", s, out)
				}
			}
			if !strings.Contains(errOut, tt.errOut) {
				t.Errorf("stderr %q lacks %q", errOut, tt.errOut)
			}
			if tt.errNot != "" && strings.Contains(errOut, tt.errNot) {
				t.Errorf("stderr %q has %q", errOut, tt.errNot)
			}
		})
	}
	for _, f := range []string{"csaf/white/2022/bsi-2022-0001.json.asc", "csaf/white/index.txt", "csaf/white/changes.csv", "keys/csaf.asc"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Error(err)
		}
	}
	// The STIX vulnerability objects are in the hub's collection, TLP:CLEAR,
	// and the AMBER advisory's marked AMBER and distributed to its recipient.
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"export", "--data", dir}, nil, &out, &errOut); code != 0 {
		t.Fatalf("export: %d %s", code, errOut.String())
	}
	for _, s := range []string{`"type":"vulnerability"`, `"type":"report"`, "RHSA-2021:5217: Red Hat Security Advisory", "CVE-2022-27193", sharing.TLP2Clear, sharing.TLP2Amber, sharing.DistributionExtension, csafRecipient} {
		if !strings.Contains(out.String(), s) {
			t.Errorf("export lacks %s:\n%.2000s", s, out.String())
		}
	}
}
