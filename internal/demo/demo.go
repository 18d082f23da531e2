// Package demo sets up a demonstration hub: the hub organisation and six
// member organisations of different sectors, users with every role, fresh
// API tokens, and real public threat intelligence (ATT&CK for ICS, KEV,
// IPsum and Maltrail indicators, OASIS examples) spread over the TLP 2.0
// levels and named distributions. With Services it also seeds the hub's
// other databases (services.go). Setup is idempotent: organisations, users,
// objects, registrations, keys, SBOMs, advisories and cases already present
// are reused; only tokens are issued anew.
package demo

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"time"

	"github.com/kizuna-cti/kizuna/internal/auth"
	"github.com/kizuna-cti/kizuna/internal/errkind"
	"github.com/kizuna-cti/kizuna/internal/ingest"
	"github.com/kizuna-cti/kizuna/internal/sharing"
	"github.com/kizuna-cti/kizuna/internal/store"
)

// OrgSpec is a demo organisation and its users.
type OrgSpec struct {
	Key   string
	Org   store.Org
	Users []store.User
}

// orgID and userID build the fixed demo ids (they must match
// testdata/demo/build.py).
func orgID(n int) string  { return fmt.Sprintf("identity--5f0c2d1e-7a3b-4c6d-8e9f-0a1b2c3d4e%02d", n) }
func userID(n int) string { return fmt.Sprintf("user--5f0c2d1e-7a3b-4c6d-8e9f-0a1b2c3d5e%02d", n) }

// memberID is the id of an organisation's second (member) user.
func memberID(n int) string { return fmt.Sprintf("user--5f0c2d1e-7a3b-4c6d-8e9f-0a1b2c3d6e%02d", n) }

// Orgs returns the demo organisations, hub first. Names are Japanese-flavoured
// and fictional.
func Orgs() []OrgSpec {
	org := func(n int, key, name, sector, typ string, users ...store.User) OrgSpec {
		o := store.Org{ID: orgID(n), Name: name, Sector: sector, Type: typ}
		for i := range users {
			users[i].OrgID = o.ID
		}
		return OrgSpec{Key: key, Org: o, Users: users}
	}
	u := func(id, name string, role sharing.Role) store.User {
		return store.User{ID: id, Name: name, Role: role}
	}
	return []OrgSpec{
		org(1, "hub", "Kizuna Hub (絆ハブ)", "information-sharing", "hub",
			u(userID(1), "sato", sharing.RoleHubAdmin), u(memberID(1), "suzuki", sharing.RoleAnalyst)),
		org(2, "ministry", "Ministry of Cyber Policy (サイバー政策省)", "government", "government",
			u(userID(2), "takahashi", sharing.RoleOrgAdmin), u(memberID(2), "mori", sharing.RoleMember)),
		org(3, "utility", "Kanto Denryoku Electric Power (関東電力)", "energy", "critical-infrastructure",
			u(userID(3), "tanaka", sharing.RoleOrgAdmin), u(memberID(3), "ito", sharing.RoleMember)),
		org(4, "city", "City of Minato-Kita (港北市)", "local-government", "local-government",
			u(userID(4), "watanabe", sharing.RoleOrgAdmin), u(memberID(4), "abe", sharing.RoleMember)),
		org(5, "university", "Sakura Institute of Technology (桜工業大学)", "education", "academia",
			u(userID(5), "yamamoto", sharing.RoleOrgAdmin), u(memberID(5), "ikeda", sharing.RoleMember)),
		org(6, "sme", "Hinode Precision Parts Co. (日の出精密)", "manufacturing", "sme",
			u(userID(6), "nakamura", sharing.RoleOrgAdmin), u(memberID(6), "ogawa", sharing.RoleMember)),
		org(7, "cert", "Nihon Partner CERT (日本パートナーCERT)", "incident-response", "partner-cert",
			u(userID(7), "kobayashi", sharing.RoleOrgAdmin), u(memberID(7), "kato", sharing.RoleMember)),
	}
}

// Load is one shipped data file and who submits it.
type Load struct {
	File string
	// Org is the OrgSpec.Key of the submitting organisation; User the
	// submitting user's index in its Users.
	Org  string
	User int
	// TLP is given (in the label only) to objects without a TLP marking.
	TLP sharing.TLP
}

// Loads lists the shipped data files in load order.
func Loads() []Load {
	return []Load{
		{File: "attack-ics-subset.json", Org: "hub", User: 0, TLP: sharing.TLPClear},
		{File: "kev-vulnerabilities.json", Org: "hub", User: 1},
		{File: "oasis-examples.json", Org: "cert", User: 0, TLP: sharing.TLPGreen},
		{File: "indicators-partner-cert.json", Org: "cert", User: 0},
		{File: "indicators-electric-utility.json", Org: "utility", User: 0},
		{File: "indicators-city.json", Org: "city", User: 1},
		{File: "indicators-university.json", Org: "university", User: 0},
		{File: "indicators-hub-red.json", Org: "hub", User: 1},
		{File: "indicators-sme.json", Org: "sme", User: 1},
		{File: "indicators-constituency.json", Org: "cert", User: 0},
	}
}

// Credential is a freshly issued demo token.
type Credential struct {
	Org   store.Org
	User  store.User
	Token string
}

// Info describes the demo hub after Setup.
type Info struct {
	Orgs        []store.Org
	Credentials []Credential
	// Imported counts objects stored or found already stored; Failed
	// counts objects refused (always 0 with the shipped data).
	Imported, Failed int64
	// Failures lists refused objects.
	Failures []ingest.Failure

	// Extras describes what Setup seeded with Services (nil without).
	Extras *Extras
}

// Setup creates (or reuses) the demo organisations and users, issues one new
// token per user, and loads the shipped data files from data (a directory
// holding the files named by Loads) into the default collection.
//
// With svc (see OpenServices) it also seeds the hub's other databases from
// data (see setupServices): constituency registrations, a signing key of
// the partner CERT, the vulnerability database and the utility's SBOM, a
// TLP:WHITE CSAF advisory and an anonymous incident report of the SME.
func Setup(ctx context.Context, st store.Store, policy *sharing.Policy, data fs.FS, svc *Services, log *slog.Logger) (Info, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var info Info
	specs := Orgs()
	byKey := map[string]OrgSpec{}
	now := time.Now().UTC()
	for i, spec := range specs {
		o, err := ensureOrg(ctx, st, spec.Org, now)
		if err != nil {
			return info, err
		}
		specs[i].Org = o
		for j, u := range spec.Users {
			u.OrgID = o.ID
			got, err := ensureUser(ctx, st, u, now)
			if err != nil {
				return info, err
			}
			specs[i].Users[j] = got
			tok, hash, err := auth.NewToken()
			if err != nil {
				return info, fmt.Errorf("demo: token for %s: %w", u.Name, err)
			}
			var rnd [8]byte
			if _, err := rand.Read(rnd[:]); err != nil {
				return info, fmt.Errorf("demo: token id for %s: %w", u.Name, err)
			}
			t := store.Token{ID: "demo-" + hex.EncodeToString(rnd[:]), UserID: got.ID, Hash: hash, Created: now}
			if err := st.CreateToken(ctx, t); err != nil {
				return info, fmt.Errorf("demo: token for %s: %w", u.Name, err)
			}
			info.Credentials = append(info.Credentials, Credential{Org: o, User: got, Token: tok})
		}
		info.Orgs = append(info.Orgs, o)
		byKey[spec.Key] = specs[i]
	}
	p := &ingest.Pipeline{Store: st, Policy: policy, Log: log, HubOrgID: byKey["hub"].Org.ID}
	for _, l := range Loads() {
		spec, ok := byKey[l.Org]
		if !ok || l.User >= len(spec.Users) {
			return info, fmt.Errorf("demo: %s: no organisation %q user %d", l.File, l.Org, l.User)
		}
		u := spec.Users[l.User]
		sub := ingest.Submission{
			Collection: store.DefaultCollectionID,
			Principal:  sharing.Principal{OrgID: spec.Org.ID, OrgName: spec.Org.Name, UserID: u.ID, User: u.Name, Role: u.Role},
			DefaultTLP: l.TLP,
		}
		src := ingest.Source{Name: l.File, Open: func() (io.ReadCloser, error) { return data.Open(l.File) }}
		prog, err := p.Import(ctx, sub, []ingest.Source{src}, ingest.ImportOptions{
			OnFailure: func(f ingest.Failure) { info.Failures = append(info.Failures, f) },
		})
		info.Imported += prog.Committed
		info.Failed += prog.Failed
		if err != nil {
			return info, fmt.Errorf("demo: loading %s: %w", l.File, err)
		}
		log.Info("demo data loaded", "file", l.File, "org", spec.Org.Name, "objects", prog.Committed, "failed", prog.Failed)
	}
	if svc != nil {
		if err := setupServices(ctx, st, p, data, svc, byKey, &info); err != nil {
			return info, err
		}
	}
	return info, nil
}

// ensureOrg returns the stored organisation with o's id (or name), creating it
// when missing.
func ensureOrg(ctx context.Context, st store.Directory, o store.Org, now time.Time) (store.Org, error) {
	if got, err := st.Org(ctx, o.ID); err == nil {
		return got, nil
	} else if !errors.Is(err, errkind.NotFound) {
		return o, fmt.Errorf("demo: organisation %s: %w", o.Name, err)
	}
	if got, err := st.OrgByName(ctx, o.Name); err == nil {
		return got, nil
	}
	o.Created = now
	if err := st.CreateOrg(ctx, o); err != nil {
		return o, fmt.Errorf("demo: creating organisation %s: %w", o.Name, err)
	}
	return o, nil
}

// ensureUser returns the stored user with u's name in u's organisation,
// creating it when missing.
func ensureUser(ctx context.Context, st store.Directory, u store.User, now time.Time) (store.User, error) {
	got, err := st.UserByName(ctx, u.OrgID, u.Name)
	if err == nil {
		return got, nil
	}
	if !errors.Is(err, errkind.NotFound) {
		return u, fmt.Errorf("demo: user %s: %w", u.Name, err)
	}
	u.Created = now
	if err := st.CreateUser(ctx, u); err != nil {
		return u, fmt.Errorf("demo: creating user %s: %w", u.Name, err)
	}
	return u, nil
}
