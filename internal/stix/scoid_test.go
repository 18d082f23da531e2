package stix

import (
	"errors"
	"testing"

	"github.com/kizuna-cti/kizuna/internal/errkind"
)

func TestSCOID(t *testing.T) {
	tests := []struct {
		name, obj, want string
	}{
		// From the OASIS STIX 2.1 example "sighting-of-observed-data.json"
		// (cti-documentation): ids produced by the reference tooling.
		{"file with MD5 and name (OASIS example)",
			`{"type":"file","spec_version":"2.1","id":"file--364fe3e5-b1f4-5ba3-b951-ee5983b3538d","hashes":{"MD5":"1717b7fff97d37a1e1a0029d83492de1"},"name":"resume.pdf"}`,
			"file--364fe3e5-b1f4-5ba3-b951-ee5983b3538d"},
		{"windows-registry-key (OASIS example)",
			`{"type":"windows-registry-key","spec_version":"2.1","id":"windows-registry-key--16b80d14-d574-5620-abad-10ff304b1c26","key":"HKEY_LOCAL_MACHINE\\SYSTEM\\ControlSet001\\Services\\WSALG2"}`,
			"windows-registry-key--16b80d14-d574-5620-abad-10ff304b1c26"},
		// Cross-checked with Python's uuid.uuid5 over the canonical JSON.
		{"ipv4-addr", `{"type":"ipv4-addr","id":"ipv4-addr--1e4ffad7-0b88-41d4-ba4d-77d27490b956","value":"198.51.100.3"}`,
			"ipv4-addr--28bb3599-77cd-5a82-a950-b5bc3caf07c4"},
		{"non-contributing properties ignored",
			`{"type":"ipv4-addr","id":"ipv4-addr--1e4ffad7-0b88-41d4-ba4d-77d27490b956","value":"198.51.100.3","spec_version":"2.1","defanged":true,"x_foo":"bar"}`,
			"ipv4-addr--28bb3599-77cd-5a82-a950-b5bc3caf07c4"},
		{"MD5 preferred over SHA-256, member order irrelevant",
			`{"type":"file","id":"file--364fe3e5-b1f4-5ba3-b951-ee5983b3538d","name":"resume.pdf","hashes":{"SHA-256":"aec070645fe53ee3b3763059376134f058cc337247c978add178b6ccdfb0019f","MD5":"1717b7fff97d37a1e1a0029d83492de1"}}`,
			"file--364fe3e5-b1f4-5ba3-b951-ee5983b3538d"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := SCOID(mustParse(t, tt.obj))
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
			if _, uuid, ok := SplitID(got); !ok || uuid[14] != '5' {
				t.Errorf("%s is not a UUIDv5 identifier", got)
			}
		})
	}
	// Different values give different ids.
	a, _ := SCOID(mustParse(t, `{"type":"domain-name","id":"domain-name--ecb120bf-2694-4902-a737-62b74539a41b","value":"example.com"}`))
	b, _ := SCOID(mustParse(t, `{"type":"domain-name","id":"domain-name--ecb120bf-2694-4902-a737-62b74539a41b","value":"example.org"}`))
	if a == b || a == "" {
		t.Errorf("ids %q and %q", a, b)
	}
}

func TestSCOIDErrors(t *testing.T) {
	for _, obj := range []string{
		`{"type":"process","id":"process--ff1e0780-358c-4808-a8c7-d0fca4ef6ef4","pid":1}`,
		`{"type":"file","id":"file--ff1e0780-358c-4808-a8c7-d0fca4ef6ef4","size":1}`,
		`{"type":"indicator","id":"indicator--ff1e0780-358c-4808-a8c7-d0fca4ef6ef4"}`,
		`{"type":"x-custom","id":"x-custom--ff1e0780-358c-4808-a8c7-d0fca4ef6ef4","value":"a"}`,
	} {
		_, err := SCOID(mustParse(t, obj))
		if !errors.Is(err, errkind.Invalid) {
			t.Errorf("%s: got %v, want an errkind.Invalid error", obj, err)
		}
	}
}
