package translog

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/kizuna-cti/kizuna/internal/errkind"
	"github.com/kizuna-cti/kizuna/internal/provenance"
)

// MaxTreeHeadSize bounds a signed tree head accepted by OpenTreeHead.
const MaxTreeHeadSize = 16 << 10

// HeadSigner signs tree heads as C2SP tlog-checkpoint notes:
//
//	<origin> LF <tree size> LF <base64 root hash> LF
//	LF
//	— <origin> <base64 key hash and Ed25519 signature> LF
//
// The origin names the log (for instance "hub.example.org/kizuna/log") and
// is also the note key name.
type HeadSigner struct {
	origin string
	key    ed25519.PrivateKey
	hash   uint32
	vkey   string
}

// NewHeadSigner returns a signer for the log named origin with the Ed25519
// key (a hub key from package sign provides it with PrivateKey.Ed25519).
func NewHeadSigner(origin string, key ed25519.PrivateKey) (*HeadSigner, error) {
	vkey, err := note.NewEd25519VerifierKey(origin, key.Public().(ed25519.PublicKey))
	if err != nil {
		return nil, fmt.Errorf("%w: tree head signer: %v", errkind.Invalid, err)
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		return nil, fmt.Errorf("%w: tree head signer: %v", errkind.Invalid, err)
	}
	return &HeadSigner{origin: origin, key: key, hash: v.KeyHash(), vkey: vkey}, nil
}

// Name implements note.Signer.
func (s *HeadSigner) Name() string { return s.origin }

// KeyHash implements note.Signer.
func (s *HeadSigner) KeyHash() uint32 { return s.hash }

// Sign implements note.Signer: it signs a note's text.
func (s *HeadSigner) Sign(msg []byte) ([]byte, error) { return ed25519.Sign(s.key, msg), nil }

// VerifierKey returns the note verifier key that clients configure to
// check tree heads ("<origin>+<key hash>+<base64 key>").
func (s *HeadSigner) VerifierKey() string { return s.vkey }

// SignTree returns the signed tree head of t.
func (s *HeadSigner) SignTree(t tlog.Tree) ([]byte, error) {
	text := fmt.Sprintf("%s\n%d\n%s\n", s.origin, t.N, base64.StdEncoding.EncodeToString(t.Hash[:]))
	b, err := note.Sign(&note.Note{Text: text}, s)
	if err != nil {
		return nil, fmt.Errorf("sign tree head: %w", err)
	}
	return b, nil
}

// NewHeadVerifier parses a note verifier key as HeadSigner.VerifierKey
// returns it.
func NewHeadVerifier(vkey string) (note.Verifier, error) {
	v, err := note.NewVerifier(vkey)
	if err != nil {
		return nil, fmt.Errorf("%w: tree head verifier key: %v", errkind.Invalid, err)
	}
	return v, nil
}

// OpenTreeHead checks a signed tree head against the verifier and returns
// the tree it commits to. The checkpoint's origin must be the verifier's
// name. A missing or bad signature wraps provenance.ErrVerification; a
// malformed note wraps errkind.Invalid.
func OpenTreeHead(signed []byte, v note.Verifier) (tlog.Tree, error) {
	if len(signed) > MaxTreeHeadSize {
		return tlog.Tree{}, fmt.Errorf("%w: tree head: %d bytes", errkind.TooLarge, len(signed))
	}
	n, err := note.Open(signed, note.VerifierList(v))
	if err != nil {
		var unverified *note.UnverifiedNoteError
		var invalid *note.InvalidSignatureError
		if errors.As(err, &unverified) || errors.As(err, &invalid) {
			return tlog.Tree{}, fmt.Errorf("%w: tree head: %v", provenance.ErrVerification, err)
		}
		return tlog.Tree{}, fmt.Errorf("%w: tree head: %v", errkind.Invalid, err)
	}
	origin, t, err := parseCheckpoint(n.Text)
	if err != nil {
		return tlog.Tree{}, err
	}
	if origin != v.Name() {
		return tlog.Tree{}, fmt.Errorf("%w: tree head: origin %q signed by key %q", provenance.ErrVerification, origin, v.Name())
	}
	return t, nil
}

func parseCheckpoint(text string) (origin string, t tlog.Tree, err error) {
	bad := func(what string) (string, tlog.Tree, error) {
		return "", tlog.Tree{}, fmt.Errorf("%w: tree head: %s", errkind.Invalid, what)
	}
	lines := strings.Split(text, "\n")
	if len(lines) != 4 || lines[3] != "" {
		return bad("want origin, size and root hash lines")
	}
	if lines[0] == "" {
		return bad("empty origin")
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || size < 0 || strconv.FormatInt(size, 10) != lines[1] {
		return bad(fmt.Sprintf("tree size %q", lines[1]))
	}
	h, err := base64.StdEncoding.Strict().DecodeString(lines[2])
	if err != nil || len(h) != tlog.HashSize || !bytes.Equal([]byte(base64.StdEncoding.EncodeToString(h)), []byte(lines[2])) {
		return bad(fmt.Sprintf("root hash %q", lines[2]))
	}
	t.N = size
	copy(t.Hash[:], h)
	return lines[0], t, nil
}
