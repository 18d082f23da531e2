package route_test

import (
	"context"
	"fmt"
	"strings"

	"github.com/kizuna-cti/kizuna/internal/response/feed"
	"github.com/kizuna-cti/kizuna/internal/response/route"
)

// Example builds a constituency table from registrations and a
// prefix-to-ASN table, routes single values, then a scan report.
func Example() {
	ctx := context.Background()
	var regs []route.Registration
	for _, r := range []struct{ owner, resource string }{
		{"provider", "192.0.2.0/24"},
		{"customer", "192.0.2.64/26"},
		{"carrier", "AS64500"}, // registered by ASN only
		{"shop", "Bücher.example."},
	} {
		res, err := route.ParseResource(r.resource)
		if err != nil {
			fmt.Println(err)
			return
		}
		regs = append(regs, route.Registration{Owner: route.Owner(r.owner), Resource: res})
	}
	asn, _, err := route.ParseASNDump(ctx, strings.NewReader("203.0.113.0/24\t64500\n"))
	if err != nil {
		fmt.Println(err)
		return
	}
	tab, err := route.New(regs, route.Options{ASN: asn}) // route.MostSpecific
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, v := range []string{"192.0.2.7", "192.0.2.70:23", "203.0.113.5", "https://www.bücher.example/x", "198.51.100.1"} {
		fmt.Printf("%s -> %v\n", v, tab.Route(v))
	}

	report := "ip,hostname,port\n192.0.2.70,,23\n203.0.113.9,cam.xn--bcher-kva.example,80\n"
	st, err := feed.Route(ctx, strings.NewReader(report), tab,
		feed.Config{Mapping: feed.Mapping{Format: feed.CSV, Values: []string{"ip", "hostname"}, Extra: []string{"port"}}, Source: "scan.csv"},
		func(n feed.Notification) error {
			fmt.Printf("notify %s: line %d %s=%s port=%s\n", n.Owner, n.Line, n.Field, n.Observation, n.Extra[0].Value)
			return nil
		})
	fmt.Println(st.Records, "rows,", st.Notifications, "notifications,", st.Malformed, "malformed", err)
	// Output:
	// 192.0.2.7 -> [provider]
	// 192.0.2.70:23 -> [customer]
	// 203.0.113.5 -> [carrier]
	// https://www.bücher.example/x -> [shop]
	// 198.51.100.1 -> []
	// notify customer: line 2 ip=192.0.2.70 port=23
	// notify carrier: line 3 ip=203.0.113.9 port=80
	// notify shop: line 3 hostname=cam.xn--bcher-kva.example port=80
	// 2 rows, 3 notifications, 0 malformed <nil>
}
