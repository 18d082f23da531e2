package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestPatternCheckCmd(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		code       int
		stdout     string
		stderrHave []string
	}{
		{"valid", []string{"pattern", "check", "[file:size  ==  1280]"}, 0, "[file:size = 1280]\n", nil},
		{"invalid with caret", []string{"pattern", "check", "[file:size = ]"}, 1, "",
			[]string{"kizuna: pattern syntax error at column 14: expected a literal after '='", "\n  [file:size = ]\n               ^\n"}},
		{"caret on second line", []string{"pattern", "check", "[a:b = 1]\nAND [c = 2]"}, 1, "",
			[]string{"column 18: expected ':'", "\n  AND [c = 2]\n         ^\n"}},
		{"missing argument", []string{"pattern", "check"}, 2, "", []string{"kizuna: accepts 1 arg(s)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), tt.args, strings.NewReader(""), &stdout, &stderr)
			if code != tt.code {
				t.Errorf("exit code = %d, want %d (stderr %q)", code, tt.code, stderr.String())
			}
			if stdout.String() != tt.stdout {
				t.Errorf("stdout = %q, want %q", stdout.String(), tt.stdout)
			}
			for _, want := range tt.stderrHave {
				if !strings.Contains(stderr.String(), want) {
					t.Errorf("stderr = %q, want it to contain %q", stderr.String(), want)
				}
			}
		})
	}
}

func TestPatternMatchCmd(t *testing.T) {
	const data = "../../testdata/pattern/observed.json"
	tests := []struct {
		name       string
		pattern    string
		file       string
		code       int
		stdout     string
		stderrHave string
	}{
		{"hash then traffic", "[file:hashes.'SHA-256' = 'aec070645fe53ee3b3763059376134f058cc337247c978add178b6ccdfb0019f'] FOLLOWEDBY [network-traffic:dst_ref.value ISSUBSET '198.51.100.0/24'] WITHIN 300 SECONDS", data, 0, "match\n", ""},
		{"wrong order", "[network-traffic:dst_port = 443] FOLLOWEDBY [file:name LIKE '%.exe']", data, 1, "no match\n", ""},
		{"repeats within number_observed", "[network-traffic:protocols[*] = 'tls'] REPEATS 3 TIMES", data, 0, "match\n", ""},
		{"repeats beyond number_observed", "[network-traffic:protocols[*] = 'tls'] REPEATS 4 TIMES", data, 1, "no match\n", ""},
		{"syntax error", "[file:name = ]", data, 2, "", "kizuna: pattern syntax error at column 14"},
		{"missing file", "[file:name = 'x']", "does-not-exist.json", 2, "", "kizuna: open does-not-exist.json"},
		{"evaluation error", "[file:name MATCHES '(?<=x)']", data, 2, "", "kizuna: invalid input: pattern evaluation: MATCHES"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), []string{"pattern", "match", tt.pattern, tt.file}, strings.NewReader(""), &stdout, &stderr)
			if code != tt.code {
				t.Errorf("exit code = %d, want %d (stderr %q)", code, tt.code, stderr.String())
			}
			if stdout.String() != tt.stdout {
				t.Errorf("stdout = %q, want %q", stdout.String(), tt.stdout)
			}
			if !strings.Contains(stderr.String(), tt.stderrHave) {
				t.Errorf("stderr = %q, want it to contain %q", stderr.String(), tt.stderrHave)
			}
		})
	}
}
