package demo

import (
	"context"
	"fmt"
	"net/netip"
	"strings"

	"github.com/kizuna-cti/kizuna/internal/response/notify"
	"github.com/kizuna-cti/kizuna/internal/response/route"
	"github.com/kizuna-cti/kizuna/internal/sharing"
)

// ScanSource is the source name of the demo's scan report.
const ScanSource = "demo-scan"

// ScanFeed is a hand-written third-party scan report (documentation
// address ranges and the demo organisations' example domains): one or two
// exposed services of each organisation that registered a constituency,
// one address nobody owns (shared address space) and one malformed line.
const ScanFeed = `timestamp,ip,hostname,port,tag,device_vendor
2026-11-20 03:14:07,192.0.2.10,,502,modbus,ExamplePLC
2026-11-20 03:14:40,,portal.kanto-denryoku.example,443,ssl-expired,ExampleWeb
2026-11-20 03:15:00,198.51.100.23,,23,telnet,ExampleCam
2026-11-20 03:16:30,203.0.113.5,wiki.sakura-tech.example,3389,rdp,ExampleOS
2026-11-20 03:16:45,2001:db8::7,,443,vpn,ExampleVPN
2026-11-20 03:17:00,203.0.113.200,,8080,http,ExampleRouter
2026-11-20 03:18:00,,files.hinode-seimitsu.example,21,ftp,ExampleNAS
2026-11-20 03:19:00,,mail.cyber-policy.example,25,smtp-open-relay,ExampleMail
2026-11-20 03:20:00,,vpn.partner-cert.example,443,vpn,ExampleVPN
2026-11-20 03:21:00,100.64.0.1,,53,dns-open-resolver,ExampleDNS
2026-11-20 03:22:00,not-an-address!,,0,,
`

// ScanMapping are the --map pairs of ScanFeed.
var ScanMapping = []string{"value=ip", "value=hostname", "time=timestamp", "port=port", "vulnerability=tag", "product=device_vendor"}

// RouteOptions are the demo hub's routing options: the utility's AS64500
// announces 192.0.2.0/24 (as ASNTable says).
func RouteOptions() route.Options {
	asn := &route.ASNTable{}
	asn.Add(netip.MustParsePrefix("192.0.2.0/24"), 64500)
	return route.Options{ASN: asn}
}

// setupNotifications imports ScanFeed as the hub's analyst. The window is
// the longest, so a re-run folds the rows into the same notifications.
func setupNotifications(ctx context.Context, svc *Services, analyst sharing.Principal, x *Extras) error {
	table, err := svc.Constituency.Table(ctx, RouteOptions())
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	m, err := notify.ParseMapping("csv", ScanMapping)
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	res, err := svc.Notifications.Import(ctx, strings.NewReader(ScanFeed), table,
		notify.ImportRequest{Source: ScanSource, Mapping: m, Window: notify.MaxWindow}, analyst)
	if err != nil {
		return fmt.Errorf("demo: importing the scan report: %w", err)
	}
	x.Scan = res
	return nil
}
