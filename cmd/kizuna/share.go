package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/kizuna-cti/kizuna/internal/sharing"
	"github.com/kizuna-cti/kizuna/internal/stix"
	"github.com/kizuna-cti/kizuna/internal/store"
)

// newShareCmd is `kizuna share`: questions about the sharing policy.
func newShareCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "share",
		Short: "Ask the sharing policy (preview who receives what)",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(newSharePreviewCmd())
	return cmd
}

// previewOptions are the flags of share preview.
type previewOptions struct {
	dataDir, orgName, userName, tlp string
	anonymous, asJSON               bool
}

func newSharePreviewCmd() *cobra.Command {
	var o previewOptions
	cmd := &cobra.Command{
		Use:   "preview --data DIR --org NAME [--user USER] [--anonymous] [--tlp LEVEL] [--json] FILE",
		Short: "Show who would receive each object of FILE if ORG published it",
		Long: `Preview, for each object of FILE (a bundle, a TAXII envelope, a JSON array or
one object; - reads stdin), who would receive it if organisation NAME (and
user USER) published it: the organisations by name, for TLP:RED the users,
whether the hub's analysts and the public see it. The answer comes from the
same policy every read path enforces. Objects marked with unknown markings
that this data directory does not know are shown as fail-closed.

--anonymous (or an organisation created with --anonymous) publishes
anonymously: recipients see the hub as the source. --tlp gives objects
without a TLP marking that level, as import --tlp does. Exit status: 0,
1 when an object is invalid (ingest would refuse it), 2 usage errors.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runSharePreview(cmd, o, args[0])
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.dataDir, "data", "", "data directory (created when missing; default $KIZUNA_DATA)")
	f.StringVar(&o.orgName, "org", "", "publishing organisation")
	f.StringVar(&o.userName, "user", "", "publishing user (the producer of TLP:RED objects)")
	f.BoolVar(&o.anonymous, "anonymous", false, "publish anonymously (recipients see the hub as the source)")
	f.StringVar(&o.tlp, "tlp", "", "TLP level for objects without a TLP marking (clear, green, amber, amber+strict, red)")
	f.BoolVar(&o.asJSON, "json", false, "print JSON for scripts")
	return cmd
}

// previewEntry is one object's answer; it is also the JSON form.
type previewEntry struct {
	Index       int         `json:"index"`
	ID          string      `json:"id,omitempty"`
	Type        string      `json:"type,omitempty"`
	TLP         string      `json:"tlp,omitempty"`
	Public      bool        `json:"public"`
	HubAnalysts bool        `json:"hub_analysts"`
	Orgs        []namedJSON `json:"organizations"`
	Users       []namedJSON `json:"users"`
	Unresolved  []string    `json:"unresolved,omitempty"`
	// Source is what recipients see as the producer: the organisation's
	// name, or "hub" when published anonymously.
	Source string `json:"source,omitempty"`
	// Invalid is set when ingest would refuse the object.
	Invalid string `json:"invalid,omitempty"`
}

// namedJSON is an organisation or user in preview output.
type namedJSON struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	// Org is a user's organisation name.
	Org string `json:"organization,omitempty"`
}

func runSharePreview(cmd *cobra.Command, o previewOptions, file string) error {
	if strings.TrimSpace(o.orgName) == "" {
		return usage("share preview: --org NAME is required")
	}
	var def sharing.TLP
	if o.tlp != "" {
		t, err := sharing.ParseTLP(o.tlp)
		if err != nil {
			return usage("share preview: --tlp: %v", err)
		}
		def = t
	}
	ctx := cmd.Context()
	st, err := openData(ctx, o.dataDir)
	if err != nil {
		return err
	}
	defer st.Close()
	org, err := orgNamed(ctx, st, o.orgName)
	if err != nil {
		return err
	}
	pr := sharing.Principal{OrgID: org.ID, OrgName: org.Name, Role: sharing.RoleMember}
	if o.userName != "" {
		u, err := userNamed(ctx, st, org, o.userName)
		if err != nil {
			return err
		}
		pr.UserID, pr.User, pr.Role = u.ID, u.Name, u.Role
	}
	var in io.Reader = cmd.InOrStdin()
	if file != "-" {
		f, err := os.Open(file)
		if err != nil {
			return failure("share preview: %v", err)
		}
		defer f.Close()
		in = f
	}
	var raws []json.RawMessage
	if err := stix.ReadObjects(in, func(_ int, raw json.RawMessage) error {
		raws = append(raws, raw)
		return nil
	}); err != nil {
		return failure("share preview: %s: %v", file, err)
	}
	policy, err := policyFor(cmd)
	if err != nil {
		return err
	}
	entries, err := preview(ctx, st, policy, pr, org.Anonymous || o.anonymous, def, raws)
	if err != nil {
		return failure("share preview: %v", err)
	}
	out := cmd.OutOrStdout()
	if o.asJSON {
		if err := writeJSON(out, map[string]any{"objects": entries}); err != nil {
			return err
		}
	} else {
		printPreview(out, org.Name, entries)
	}
	invalid := 0
	for _, e := range entries {
		if e.Invalid != "" {
			invalid++
		}
	}
	if invalid > 0 {
		return failure("share preview: %d of %d objects in %s are invalid and would be refused", invalid, len(entries), file)
	}
	return nil
}

// preview classifies each raw object as ingest would for pr and asks the
// policy who receives it.
func preview(ctx context.Context, st store.Store, pol *sharing.Policy, pr sharing.Principal, anonymous bool, def sharing.TLP, raws []json.RawMessage) ([]previewEntry, error) {
	orgs, err := st.Orgs(ctx)
	if err != nil {
		return nil, err
	}
	users, err := st.Users(ctx, "")
	if err != nil {
		return nil, err
	}
	orgInfos := make([]sharing.OrgInfo, len(orgs))
	orgName := map[string]string{}
	for i, o := range orgs {
		orgInfos[i] = sharing.OrgInfo{ID: o.ID, Name: o.Name}
		orgName[o.ID] = o.Name
	}
	userInfos := make([]sharing.UserInfo, len(users))
	for i, u := range users {
		userInfos[i] = sharing.UserInfo{ID: u.ID, Name: u.Name, OrgID: u.OrgID, Role: u.Role}
	}
	objs := make([]*stix.Object, len(raws))
	entries := make([]previewEntry, len(raws))
	inFile := map[string]bool{}
	for i, raw := range raws {
		entries[i].Index = i
		o, err := stix.Parse(raw)
		if o != nil {
			entries[i].ID, entries[i].Type = o.ID, o.Type
		}
		if err != nil {
			entries[i].Invalid = err.Error()
			continue
		}
		if errs := stix.Validate(o); len(errs) > 0 {
			msgs := make([]string, len(errs))
			for j, e := range errs {
				msgs[j] = e.Error()
			}
			entries[i].Invalid = strings.Join(msgs, "; ")
			continue
		}
		objs[i] = o
		if o.Type == "marking-definition" {
			inFile[o.ID] = true
		}
	}
	var lookupErr error
	resolve := func(id string) sharing.MarkingKind {
		if inFile[id] {
			return sharing.MarkingStatement
		}
		ok, err := st.MarkingKnown(ctx, id)
		if err != nil {
			lookupErr = errors.Join(lookupErr, err)
		}
		if ok {
			return sharing.MarkingStatement
		}
		return sharing.MarkingUnknown
	}
	for i, o := range objs {
		if o == nil {
			continue
		}
		l := pol.Classify(o, pr, resolve, anonymous)
		if l.TLP == sharing.TLPNone && def != sharing.TLPNone {
			l.TLP = def
		}
		a := pol.Recipients(l, orgInfos, userInfos)
		e := &entries[i]
		e.TLP = a.TLP.String()
		e.Public, e.HubAnalysts, e.Unresolved = a.Public, a.HubAnalysts, a.Unresolved
		e.Orgs, e.Users = []namedJSON{}, []namedJSON{}
		for _, o := range a.Orgs {
			e.Orgs = append(e.Orgs, namedJSON{ID: o.ID, Name: o.Name})
		}
		for _, u := range a.Users {
			e.Users = append(e.Users, namedJSON{ID: u.ID, Name: u.Name, Org: orgName[u.OrgID]})
		}
		e.Source = pr.OrgName
		if a.Anonymous {
			e.Source = "hub"
		}
	}
	if lookupErr != nil {
		return nil, fmt.Errorf("looking up marking-definitions: %w", lookupErr)
	}
	return entries, nil
}

// printPreview writes the human-readable answer.
func printPreview(w io.Writer, publisher string, entries []previewEntry) {
	for i, e := range entries {
		if i > 0 {
			fmt.Fprintln(w)
		}
		id := e.ID
		if id == "" {
			id = fmt.Sprintf("object %d", e.Index)
		}
		if e.Invalid != "" {
			fmt.Fprintf(w, "%s: invalid, ingest would refuse it: %s\n", id, strings.ReplaceAll(e.Invalid, id+": ", ""))
			continue
		}
		fmt.Fprintf(w, "%s (%s) %s\n", id, e.Type, e.TLP)
		names := make([]string, len(e.Orgs))
		for j, o := range e.Orgs {
			names[j] = o.Name
		}
		fmt.Fprintf(w, "  organisations: %s\n", orNone(names))
		if len(e.Users) > 0 || e.TLP == sharing.TLPRed.String() {
			us := make([]string, len(e.Users))
			for j, u := range e.Users {
				us[j] = u.Name + " (" + u.Org + ")"
			}
			fmt.Fprintf(w, "  users: %s\n", orNone(us))
		}
		fmt.Fprintf(w, "  hub analysts: %s\n", yesNo(e.HubAnalysts))
		fmt.Fprintf(w, "  public: %s\n", yesNo(e.Public))
		if e.Source == "hub" {
			fmt.Fprintf(w, "  source shown: the hub (anonymous; recipients do not learn %s published it)\n", publisher)
		}
		if len(e.Unresolved) > 0 {
			fmt.Fprintf(w, "  named but unknown here: %s\n", strings.Join(e.Unresolved, ", "))
		}
		if e.TLP == sharing.TLPUnknown.String() {
			fmt.Fprintln(w, "  note: unknown or malformed markings: only the producer's organisation and hub analysts see it")
		}
	}
}

func orNone(list []string) string {
	if len(list) == 0 {
		return "none"
	}
	return strings.Join(list, ", ")
}
