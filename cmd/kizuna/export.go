package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/kizuna-cti/kizuna/internal/errkind"
	"github.com/kizuna-cti/kizuna/internal/store"
	"github.com/kizuna-cti/kizuna/internal/store/sqlite"
)

// exportPageSize is the number of objects read per store query; export
// holds one page in memory at a time.
const exportPageSize = 1000

// newExportCmd is `kizuna export`: a STIX bundle of what a principal may
// see, streamed from the data directory to stdout (no server needed).
func newExportCmd() *cobra.Command {
	var (
		dataDir, collection, addedAfter, orgName, userName string
		types                                              []string
		latest                                             bool
		signFile                                           string
		signed                                             bool
	)
	cmd := &cobra.Command{
		Use:   "export --data DIR [--type T]... [--collection ID] [--added-after TS] [--org NAME [--user NAME]] > bundle.json",
		Short: "Export the objects a principal may see as a STIX bundle on stdout",
		Long: `Export writes a STIX 2.1 bundle to stdout, streaming the collection page by
page in date_added order (memory use does not grow with the collection). Every
object version is written exactly as stored (--latest keeps only the latest
version of each object).

What is exported goes through the sharing policy. With --org (and --user) it
is exactly what that organisation (user) may read over TAXII. Without them the
export runs as the local operator: a hub administrator of the hub organisation
(or of no organisation when there is none), who sees TLP:CLEAR, TLP:GREEN,
TLP:AMBER, unmarked data and objects with unknown markings, but not other
organisations' TLP:AMBER+STRICT or TLP:RED objects; export those as one of
their recipients with --org/--user.

--signed writes, instead of the bundle, a self-contained evidence file
(docs/provenance.md, "Evidence files"): every object with the hub's
signature, its transparency-log entry and inclusion proof, one signed tree
head, the hub's and the submitters' public keys, and the hub's signature
over the whole file. kizuna verify FILE checks it with no other input.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if dataDir == "" {
				return &exitError{code: 2, msg: "export: --data is required (or set KIZUNA_DATA)"}
			}
			f := store.Filter{Collection: collection, Types: types, Versions: []string{"all"}, Limit: exportPageSize}
			if latest {
				f.Versions = []string{"last"}
			}
			if addedAfter != "" {
				t, err := time.Parse(time.RFC3339Nano, addedAfter)
				if err != nil {
					return &exitError{code: 2, msg: fmt.Sprintf("export: --added-after %q: not an RFC 3339 timestamp", addedAfter)}
				}
				f.AddedAfter = t
			}
			if _, err := os.Stat(dataDir); err != nil {
				return fmt.Errorf("export: data directory: %w: %v", errkind.NotFound, err)
			}
			st, err := sqlite.Open(ctx, dataDir)
			if err != nil {
				return fmt.Errorf("export: %w", err)
			}
			defer st.Close()
			pr, _, err := bulkPrincipal(ctx, st, orgName, userName)
			if err != nil {
				return fmt.Errorf("export: %w", err)
			}
			policy, err := policyFor(cmd)
			if err != nil {
				return err
			}
			coll, err := st.Collection(ctx, store.DefaultAPIRoot, collection)
			if err != nil {
				return fmt.Errorf("export: collection %q: %w", collection, err)
			}
			// The same collection right as over TAXII: a principal that may
			// not read the collection learns nothing of it.
			if !policy.CanRead(pr, coll.ReadOrgs) {
				return fmt.Errorf("export: collection %q: %w", collection, errkind.NotFound)
			}
			f.Access = policy.Access(pr)
			if signed {
				if signFile != "" {
					return usage("export: give --signed or --sign FILE, not both")
				}
				return exportEvidence(cmd, st, f, dataDir, policy)
			}
			if signFile != "" {
				return exportSigned(cmd, st, f, dataDir, signFile)
			}
			if _, err := writeBundle(ctx, st, f, cmd.OutOrStdout()); err != nil {
				return fmt.Errorf("export: %w", err)
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&dataDir, "data", os.Getenv("KIZUNA_DATA"), "data directory (env KIZUNA_DATA)")
	fl.StringVar(&collection, "collection", store.DefaultCollectionID, "collection id")
	fl.StringArrayVar(&types, "type", nil, "export only this object type (repeatable)")
	fl.StringVar(&addedAfter, "added-after", "", "export only versions added after this RFC 3339 timestamp")
	fl.StringVar(&orgName, "org", "", "export what this organisation may see")
	fl.StringVar(&userName, "user", "", "export what this user of the organisation may see")
	fl.BoolVar(&latest, "latest", false, "export only the latest version of each object")
	fl.BoolVar(&signed, "signed", false, "write a self-contained evidence file (objects, signatures, log proofs, keys) instead of the bundle")
	fl.StringVar(&signFile, "sign", "", "also write the hub's detached signature of the bundle to FILE (holds the bundle in memory)")
	return cmd
}

// writeBundle streams the visible versions selected by f as one bundle and
// returns how many objects it wrote.
func writeBundle(ctx context.Context, st store.Objects, f store.Filter, w io.Writer) (int, error) {
	bw := bufio.NewWriterSize(w, 256<<10)
	fmt.Fprintf(bw, `{"type":"bundle","id":"bundle--%s","objects":[`, uuid4())
	n := 0
	for {
		page, err := st.Query(ctx, f)
		if err != nil {
			return n, err
		}
		for _, e := range page.Entries {
			if n > 0 {
				bw.WriteByte(',')
			}
			bw.WriteByte('\n')
			bw.Write(e.Raw)
			n++
		}
		if !page.More || page.Next == "" {
			break
		}
		f.Next = page.Next
	}
	bw.WriteString("\n]}\n")
	if err := bw.Flush(); err != nil {
		return n, fmt.Errorf("writing bundle: %w", err)
	}
	return n, nil
}

// uuid4 returns a random (version 4) UUID.
func uuid4() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
