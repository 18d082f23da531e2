package translog

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"strings"
	"unicode/utf8"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/kizuna-cti/kizuna/internal/errkind"
)

// Op says what happened to an object version.
type Op string

// The operations a log entry records.
const (
	// Add records that the hub accepted the object version.
	Add Op = "add"
	// Delete records that the hub itself removed the object version (for
	// instance a TAXII delete), so that an audit does not report it.
	Delete Op = "delete"
)

// entryHeader starts the leaf text of every entry.
const entryHeader = "kizuna-log-entry/v1"

// MaxEntrySize bounds the leaf text of an entry accepted by ParseEntry.
const MaxEntrySize = 4 << 10

// Entry is one leaf of the log: an object version the hub accepted (or
// removed), identified by the SHA-256 of its RFC 8785 canonical JSON
// (stix.Hash). Its leaf text (Marshal) is
//
//	kizuna-log-entry/v1 LF op LF collection LF id LF version LF date_added LF
//	hex(object hash) LF signer LF key id LF
//
// and its leaf hash is the RFC 6962 SHA-256(0x00 || leaf text). No field
// may contain a line feed; version, signer and key id may be empty.
type Entry struct {
	// Op is Add or Delete.
	Op Op
	// Collection is the TAXII collection id the object was added to.
	Collection string
	// ObjectID is the STIX id.
	ObjectID string
	// Version is the object's modified (else created) timestamp as given,
	// empty for objects without either.
	Version string
	// DateAdded is the hub's date_added for the version.
	DateAdded string
	// ObjectHash is the SHA-256 of the object's canonical JSON.
	ObjectHash [32]byte
	// Signer is the STIX identity id of the organisation whose verified
	// signature came with the object; empty for unsigned submissions.
	Signer string
	// KeyID is the id of the key that signature was made with.
	KeyID string
}

// Key returns the triple the audit matches entries and stored objects by.
func (e *Entry) Key() ObjectKey {
	return ObjectKey{Collection: e.Collection, ObjectID: e.ObjectID, Version: e.Version}
}

func (e *Entry) check() error {
	if e.Op != Add && e.Op != Delete {
		return fmt.Errorf("%w: log entry: op %q", errkind.Invalid, e.Op)
	}
	if e.Collection == "" || e.ObjectID == "" || e.DateAdded == "" {
		return fmt.Errorf("%w: log entry: collection, id and date_added are required", errkind.Invalid)
	}
	for _, f := range []string{e.Collection, e.ObjectID, e.Version, e.DateAdded, e.Signer, e.KeyID} {
		if strings.ContainsAny(f, "\n\r") || !utf8.ValidString(f) {
			return fmt.Errorf("%w: log entry: field %q has a line break or invalid UTF-8", errkind.Invalid, f)
		}
	}
	if (e.Signer == "") != (e.KeyID == "") {
		return fmt.Errorf("%w: log entry: signer and key id go together", errkind.Invalid)
	}
	return nil
}

// Marshal returns the entry's leaf text.
func (e *Entry) Marshal() ([]byte, error) {
	if err := e.check(); err != nil {
		return nil, err
	}
	return e.appendText(nil), nil
}

func (e *Entry) appendText(b []byte) []byte {
	for _, f := range []string{entryHeader, string(e.Op), e.Collection, e.ObjectID, e.Version, e.DateAdded} {
		b = append(b, f...)
		b = append(b, '\n')
	}
	b = hex.AppendEncode(b, e.ObjectHash[:])
	b = append(b, '\n')
	b = append(b, e.Signer...)
	b = append(b, '\n')
	b = append(b, e.KeyID...)
	return append(b, '\n')
}

// LeafHash returns the entry's RFC 6962 leaf hash.
func (e *Entry) LeafHash() (tlog.Hash, error) {
	t, err := e.Marshal()
	if err != nil {
		return tlog.Hash{}, err
	}
	return tlog.RecordHash(t), nil
}

// ParseEntry parses an entry's leaf text strictly: Marshal of the result
// gives back exactly text.
func ParseEntry(text []byte) (*Entry, error) {
	if len(text) > MaxEntrySize {
		return nil, fmt.Errorf("%w: log entry: %d bytes, limit %d", errkind.TooLarge, len(text), MaxEntrySize)
	}
	if len(text) == 0 || text[len(text)-1] != '\n' {
		return nil, fmt.Errorf("%w: log entry: must end in a line feed", errkind.Invalid)
	}
	f := strings.Split(string(text[:len(text)-1]), "\n")
	if len(f) != 9 || f[0] != entryHeader {
		return nil, fmt.Errorf("%w: log entry: want %s and 8 fields", errkind.Invalid, entryHeader)
	}
	e := &Entry{Op: Op(f[1]), Collection: f[2], ObjectID: f[3], Version: f[4], DateAdded: f[5], Signer: f[7], KeyID: f[8]}
	if len(f[6]) != 64 {
		return nil, fmt.Errorf("%w: log entry: object hash %q", errkind.Invalid, f[6])
	}
	if _, err := hex.Decode(e.ObjectHash[:], []byte(f[6])); err != nil || strings.ToLower(f[6]) != f[6] {
		return nil, fmt.Errorf("%w: log entry: object hash %q", errkind.Invalid, f[6])
	}
	if err := e.check(); err != nil {
		return nil, err
	}
	if !bytes.Equal(e.appendText(nil), text) {
		return nil, fmt.Errorf("%w: log entry: not in canonical form", errkind.Invalid)
	}
	return e, nil
}
