package stix_test

import (
	"fmt"

	"github.com/kizuna-cti/kizuna/internal/stix"
)

func ExampleValidate() {
	o, err := stix.Parse([]byte(`{"type":"malware","spec_version":"2.1","id":"malware--31b940d4-6f7f-459a-80ea-9c1f17b5891b",
		"created":"2016-04-06T20:07:09.000Z","modified":"2016-04-06T20:07:09.000Z","is_family":true,
		"sample_refs":["software--364fe3e5-b1f4-5ba3-b951-ee5983b3538d"],"x_acme_score":7}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, e := range stix.Validate(o) {
		fmt.Println(e)
	}
	// Output:
	// malware--31b940d4-6f7f-459a-80ea-9c1f17b5891b: name: required when is_family is true
	// malware--31b940d4-6f7f-459a-80ea-9c1f17b5891b: sample_refs[0]: must reference file or artifact, not software
}

func ExampleCanonical() {
	c, _ := stix.Canonical([]byte(`{"b": 1.50, "a": [1E3, "\u00e9"]}`))
	fmt.Println(string(c))
	// Output: {"a":[1000,"é"],"b":1.5}
}

func ExampleSCOID() {
	o, _ := stix.Parse([]byte(`{"type":"ipv4-addr","id":"ipv4-addr--1e4ffad7-0b88-41d4-ba4d-77d27490b956","value":"198.51.100.3"}`))
	id, _ := stix.SCOID(o)
	fmt.Println(id)
	// Output: ipv4-addr--28bb3599-77cd-5a82-a950-b5bc3caf07c4
}
