package telemetry

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/bits"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// zeekField says what a Zeek field holds.
type zeekField struct {
	kind Kind
	role Role
	// ipOrDomain files a value as an address when it parses as one and as
	// a domain name otherwise (http host, dns answers).
	ipOrDomain bool
	// byLength files a certificate fingerprint by its length.
	byLength bool
}

// zeekFieldFor returns the meaning of field name in a log of the given
// type (path), or ok false for fields that carry no observable.
func zeekFieldFor(path, name string) (zeekField, bool) {
	switch name {
	case "id.orig_h":
		return zeekField{kind: KindIPv4, role: RoleSrc}, true
	case "id.resp_h":
		return zeekField{kind: KindIPv4, role: RoleDst}, true
	case "id.orig_p":
		return zeekField{kind: KindSrcPort}, true
	case "id.resp_p":
		return zeekField{kind: KindDstPort}, true
	case "proto":
		return zeekField{kind: KindProtocol}, true
	case "query":
		return zeekField{kind: KindDomain}, path != "ldap_search" && path != "mysql"
	case "answers":
		return zeekField{ipOrDomain: true}, true
	case "server_name":
		return zeekField{kind: KindDomain}, true
	case "ja3":
		return zeekField{kind: KindJA3}, true
	case "ja3s":
		return zeekField{kind: KindJA3S}, true
	case "cert_chain_fps", "client_cert_chain_fps":
		return zeekField{byLength: true}, true
	case "user_agent":
		return zeekField{kind: KindUserAgent}, true
	case "md5":
		return zeekField{kind: KindMD5}, true
	case "sha1":
		return zeekField{kind: KindSHA1}, true
	case "sha256":
		return zeekField{kind: KindSHA256}, true
	case "sha512":
		return zeekField{kind: KindSHA512}, true
	case "filename":
		return zeekField{kind: KindFileName}, path == "files" || path == "smb_files"
	case "tx_hosts", "rx_hosts", "x_originating_ip", "path":
		return zeekField{kind: KindIPv4}, name != "path" || path == "smtp"
	case "mailfrom", "rcptto", "from", "to", "cc", "reply_to":
		return zeekField{kind: KindEmail}, path == "smtp"
	case "host":
		return zeekField{ipOrDomain: true}, path == "http"
	case "fingerprint":
		return zeekField{byLength: true}, path == "x509"
	case "san.dns":
		return zeekField{kind: KindDomain}, true
	case "san.ip":
		return zeekField{kind: KindIPv4}, true
	case "san.email":
		return zeekField{kind: KindEmail}, true
	case "src":
		return zeekField{kind: KindIPv4, role: RoleSrc}, path == "notice"
	case "dst":
		return zeekField{kind: KindIPv4, role: RoleDst}, path == "notice"
	}
	return zeekField{}, false
}

// add files one value of a Zeek field.
func (f zeekField) add(ev *Event, name, v string) {
	switch {
	case f.ipOrDomain:
		if _, err := netip.ParseAddr(v); err == nil {
			ev.Add(KindIPv4, f.role, name, v)
		} else {
			ev.Add(KindDomain, RoleNone, name, stripPort(v))
		}
	case f.byLength:
		switch len(v) {
		case 40:
			ev.Add(KindX509SHA1, RoleNone, name, v)
		case 64:
			ev.Add(KindX509SHA256, RoleNone, name, v)
		}
	case f.kind == KindEmail && (name == "from" || name == "to" || name == "cc" || name == "reply_to"):
		if strings.IndexByte(v, '@') > 0 {
			ev.Add(KindEmail, RoleNone, name, v)
		}
	default:
		ev.Add(f.kind, f.role, name, v)
	}
}

// stripPort removes a ":port" from a host name (not from an IPv6 address).
func stripPort(h string) string {
	if i := strings.LastIndexByte(h, ':'); i > 0 && strings.IndexByte(h, ':') == i {
		return h[:i]
	}
	return h
}

// httpURL builds the URL of a Zeek http record from host and uri.
func httpURL(host, uri string, port string) string {
	if strings.Contains(uri, "://") {
		return uri // proxy request: the URI is absolute
	}
	if host == "" {
		return ""
	}
	if !strings.HasPrefix(uri, "/") {
		uri = "/" + uri
	}
	scheme := "http://"
	if port == "443" {
		scheme = "https://"
	}
	return scheme + host + uri
}

// parseEpoch parses Zeek's "seconds.fraction" timestamps.
func parseEpoch(s string) (time.Time, bool) {
	sec, frac, _ := strings.Cut(s, ".")
	n, err := strconv.ParseInt(sec, 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	var ns int64
	if frac != "" {
		if len(frac) > 9 {
			frac = frac[:9]
		}
		f, err := strconv.ParseInt(frac, 10, 64)
		if err != nil || f < 0 {
			return time.Time{}, false
		}
		for i := len(frac); i < 9; i++ {
			f *= 10
		}
		ns = f
	}
	if strings.HasPrefix(sec, "-") {
		ns = -ns
	}
	return time.Unix(n, ns).UTC(), true
}

// ---- TSV ----

type tsvColumn struct {
	name  string
	list  bool
	field zeekField
	ok    bool
}

type zeekTSV struct {
	*lines
	name     string
	sep      []byte
	setSep   string
	empty    string
	unset    string
	path     string
	cols     []tsvColumn
	tsCol    int
	hostCol  int
	uriCol   int
	portCol  int
	haveHead bool
	typed    []string
	cells    [][]byte
	raw      []RawField
}

func (z *zeekTSV) Format() Format { return FormatZeekTSV }

// RawField is one observable-carrying cell of a record as read: escaped,
// not normalised, a set or vector (List) not yet split.
type RawField struct {
	// Kind is the kind the column holds; KindInvalid when it depends on
	// the value (fingerprints filed by length, and IPOrDomain columns,
	// which hold addresses or host names).
	Kind       Kind
	Role       Role
	IPOrDomain bool
	List       bool
	Value      []byte
}

// RawReader is implemented by the readers that can hand out records
// without building events (Zeek TSV): a matcher looks the raw values up
// and builds the Event only for the records that may hit. Stats are kept
// as with Next.
type RawReader interface {
	Reader
	// NextRaw advances to the next record and returns its non-empty
	// observable cells (valid until the next call), or io.EOF. Headers
	// are applied and malformed lines skipped as by Next.
	NextRaw() ([]RawField, error)
	// SetSeparator returns the separator of List cells.
	SetSeparator() string
	// Event builds the event of the record NextRaw returned last.
	Event() *Event
}

// NextRaw implements RawReader.
func (z *zeekTSV) NextRaw() ([]RawField, error) {
	for {
		line, err := z.next()
		if err != nil {
			return nil, err
		}
		if len(line) == 0 {
			continue
		}
		if line[0] == '#' {
			z.header(line)
			continue
		}
		if !z.haveHead && zeekCutHeader(line) {
			if z.sep == nil {
				z.header([]byte("#separator \\x09"))
			}
			z.header(append([]byte("#fields\t"), line...))
			continue
		}
		if msg := z.split(line); msg != "" {
			z.malformed(z.n, msg)
			continue
		}
		z.checkTime()
		z.stats.Events++
		z.raw = z.rawFields(z.raw[:0], z.cells)
		return z.raw, nil
	}
}

// rawFields appends the observable cells of a record to raw; it only
// reads z.
func (z *zeekTSV) rawFields(raw []RawField, cells [][]byte) []RawField {
	for i := range z.cols {
		col := &z.cols[i]
		if !col.ok {
			continue
		}
		c := cells[i]
		if len(c) == 0 || len(c) == len(z.unset) && string(c) == z.unset || len(c) == len(z.empty) && string(c) == z.empty {
			continue
		}
		f := col.field
		raw = append(raw, RawField{Kind: f.kind, Role: f.role, IPOrDomain: f.ipOrDomain,
			List: col.list && z.setSep != "", Value: c})
	}
	return raw
}

// SetSeparator implements RawReader.
func (z *zeekTSV) SetSeparator() string { return z.setSep }

// Event implements RawReader.
func (z *zeekTSV) Event() *Event { return z.build() }

func (z *zeekTSV) Next() (*Event, error) {
	for {
		line, err := z.next()
		if err != nil {
			return nil, err
		}
		if len(line) == 0 {
			continue
		}
		if line[0] == '#' {
			z.header(line)
			continue
		}
		if !z.haveHead && zeekCutHeader(line) {
			// column names without Zeek's # headers (zeek-cut output)
			if z.sep == nil {
				z.header([]byte("#separator \\x09"))
			}
			z.header(append([]byte("#fields\t"), line...))
			continue
		}
		ev, msg := z.record(line)
		if msg != "" {
			z.malformed(z.n, msg)
			continue
		}
		z.stats.Events++
		return ev, nil
	}
}

// header applies one "#key value" line.
func (z *zeekTSV) header(line []byte) {
	if z.sep == nil {
		z.sep = []byte{'\t'}
		z.setSep, z.empty, z.unset = ",", "(empty)", "-"
	}
	if v, ok := bytes.CutPrefix(line, []byte("#separator ")); ok {
		if s := unescapeZeek(string(v)); s != "" {
			z.sep = []byte(s)
		}
		return
	}
	key, rest, _ := bytes.Cut(line[1:], z.sep)
	val := string(rest)
	switch string(key) {
	case "set_separator":
		z.setSep = unescapeZeek(val)
	case "empty_field":
		z.empty = unescapeZeek(val)
	case "unset_field":
		z.unset = unescapeZeek(val)
	case "path":
		z.path = val
	case "fields":
		names := strings.Split(val, string(z.sep))
		z.cols = make([]tsvColumn, len(names))
		z.tsCol, z.hostCol, z.uriCol, z.portCol = -1, -1, -1, -1
		for i, n := range names {
			f, ok := zeekFieldFor(z.path, n)
			z.cols[i] = tsvColumn{name: n, field: f, ok: ok}
			switch n {
			case "ts":
				z.tsCol = i
			case "host":
				z.hostCol = i
			case "uri":
				z.uriCol = i
			case "id.resp_p":
				z.portCol = i
			}
		}
		z.applyTypes()
		z.haveHead = true
	case "types":
		z.typed = strings.Split(val, string(z.sep))
		z.applyTypes()
	}
}

func (z *zeekTSV) applyTypes() {
	for i := range z.cols {
		z.cols[i].list = false
		if i < len(z.typed) {
			t := z.typed[i]
			z.cols[i].list = strings.HasPrefix(t, "set[") || strings.HasPrefix(t, "vector[")
		}
	}
}

// record parses a data line; msg is non-empty when it is malformed.
func (z *zeekTSV) record(line []byte) (*Event, string) {
	if msg := z.split(line); msg != "" {
		return nil, msg
	}
	z.checkTime()
	return z.build(), ""
}

// split cuts a data line into z.cells; msg is non-empty when it is
// malformed.
func (z *zeekTSV) split(line []byte) string {
	var msg string
	z.cells, msg = z.splitInto(z.cells[:0], line)
	return msg
}

// splitInto is split into the given cells; it only reads z.
func (z *zeekTSV) splitInto(cells [][]byte, line []byte) ([][]byte, string) {
	if !z.haveHead {
		return cells, "data before a #fields header"
	}
	if len(z.sep) == 1 {
		cells = splitByte(cells, line, z.sep[0])
	} else {
		for {
			i := bytes.Index(line, z.sep)
			if i < 0 {
				cells = append(cells, line)
				break
			}
			cells = append(cells, line[:i])
			line = line[i+len(z.sep):]
		}
	}
	if len(cells) != len(z.cols) {
		return cells, fmt.Sprintf("%d fields, the #fields header names %d", len(cells), len(z.cols))
	}
	return cells, ""
}

// splitByte appends the fields of line separated by sep to cells,
// eight bytes at a time.
func splitByte(cells [][]byte, line []byte, sep byte) [][]byte {
	const lo7 = 0x7f7f7f7f7f7f7f7f
	pat := 0x0101010101010101 * uint64(sep)
	start, i := 0, 0
	for ; i+8 <= len(line); i += 8 {
		w := binary.LittleEndian.Uint64(line[i:]) ^ pat
		m := ^((w&lo7 + lo7) | w | lo7) // high bit of each zero byte
		for m != 0 {
			j := i + bits.TrailingZeros64(m)>>3
			cells = append(cells, line[start:j])
			start = j + 1
			m &= m - 1
		}
	}
	for ; i < len(line); i++ {
		if line[i] == sep {
			cells = append(cells, line[start:i])
			start = i + 1
		}
	}
	return append(cells, line[start:])
}

// checkTime counts a record whose timestamp cannot be read in BadTime.
func (z *zeekTSV) checkTime() {
	if !z.timeOK(z.cells) {
		z.stats.BadTime++
	}
}

// timeOK reports whether the timestamp of the cells is unset or readable.
func (z *zeekTSV) timeOK(cells [][]byte) bool {
	if z.tsCol < 0 {
		return true
	}
	c := cells[z.tsCol]
	return string(c) == z.unset || epochOK(c)
}

// epochOK reports whether parseEpoch reads c, without allocating.
func epochOK(c []byte) bool {
	sec, frac, _ := bytes.Cut(c, []byte("."))
	if len(sec) > 0 && (sec[0] == '-' || sec[0] == '+') {
		sec = sec[1:]
	}
	if len(sec) == 0 || len(sec) > 18 {
		return len(sec) > 18 && allDigits(sec) && parseOK(c)
	}
	if !allDigits(sec) {
		return false
	}
	if len(frac) > 9 {
		frac = frac[:9]
	}
	return allDigits(frac)
}

func parseOK(c []byte) bool { _, ok := parseEpoch(string(c)); return ok }

func allDigits(b []byte) bool {
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// build makes the event of the cells split last.
func (z *zeekTSV) build() *Event { return z.buildAt(z.n) }

// buildAt makes the event of the cells split last, read at line n.
func (z *zeekTSV) buildAt(n int) *Event {
	ev := &Event{Source: z.name, Line: n, Type: z.path}
	if z.tsCol >= 0 {
		if c := string(z.cells[z.tsCol]); c != z.unset {
			if t, ok := parseEpoch(c); ok {
				ev.Time = t
			}
		}
	}
	for i := range z.cols {
		col := &z.cols[i]
		if !col.ok {
			continue
		}
		raw := string(z.cells[i])
		if raw == z.unset || raw == z.empty || raw == "" {
			continue
		}
		if col.list && z.setSep != "" {
			for _, v := range strings.Split(raw, z.setSep) {
				col.field.add(ev, col.name, unescapeZeek(v))
			}
			continue
		}
		col.field.add(ev, col.name, unescapeZeek(raw))
	}
	if z.path == "http" && z.hostCol >= 0 && z.uriCol >= 0 {
		host, uri := string(z.cells[z.hostCol]), string(z.cells[z.uriCol])
		port := ""
		if z.portCol >= 0 {
			port = string(z.cells[z.portCol])
		}
		if host != z.unset && uri != z.unset {
			if u := httpURL(unescapeZeek(host), unescapeZeek(uri), port); u != "" {
				ev.Add(KindURL, RoleNone, "host+uri", u)
			}
		}
	}
	return ev
}

// unescapeZeek decodes Zeek's \xHH and \\ escapes.
func unescapeZeek(s string) string {
	if strings.IndexByte(s, '\\') < 0 {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\\' && i+1 < len(s) {
			if s[i+1] == '\\' {
				b.WriteByte('\\')
				i++
				continue
			}
			if s[i+1] == 'x' && i+3 < len(s) {
				if v, err := strconv.ParseUint(s[i+2:i+4], 16, 8); err == nil {
					b.WriteByte(byte(v))
					i += 3
					continue
				}
			}
		}
		b.WriteByte(c)
	}
	return b.String()
}

func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}
