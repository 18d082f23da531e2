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
