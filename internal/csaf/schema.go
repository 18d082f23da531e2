// Package csaf implements Kizuna's CSAF 2.0 trusted provider (OASIS
// Common Security Advisory Framework Version 2.0, sections 5, 6.1 and 7):
// validation of advisories against the CSAF JSON schema and the
// standard's mandatory tests (6.1.x), completion of analysts' drafts,
// OpenPGP signing (detached, armored), SHA-256/SHA-512 hash files, and a
// provider store in the standard's directory layout from which the
// provider metadata, directory listings and ROLIE feeds are rendered.
//
// The package does no networking: internal/server serves the store, and
// decides per request which TLP levels the caller may read.
package csaf

import (
	"bytes"
	"embed"
	"fmt"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/kizuna-cti/kizuna/internal/errkind"
)

//go:embed schema/*.json
var schemaFS embed.FS

// Schema URLs as referenced by the CSAF 2.0 schemas.
const (
	csafSchemaURL     = "https://docs.oasis-open.org/csaf/csaf/v2.0/csaf_json_schema.json"
	providerSchemaURL = "https://docs.oasis-open.org/csaf/csaf/v2.0/provider_json_schema.json"
	rolieSchemaURL    = "https://raw.githubusercontent.com/oasis-tcs/csaf/master/csaf_2.0/json_schema/ROLIE_feed_json_schema.json"
)

// schemaFiles maps the URLs used in $ref and $id to the embedded files.
var schemaFiles = map[string]string{
	csafSchemaURL:     "schema/csaf_json_schema.json",
	providerSchemaURL: "schema/provider_json_schema.json",
	rolieSchemaURL:    "schema/ROLIE_feed_json_schema.json",
	"https://www.first.org/cvss/cvss-v2.0.json": "schema/cvss-v2.0.json",
	"https://www.first.org/cvss/cvss-v3.0.json": "schema/cvss-v3.0.json",
	"https://www.first.org/cvss/cvss-v3.1.json": "schema/cvss-v3.1.json",
}

var (
	schemasOnce sync.Once
	schemas     map[string]*jsonschema.Schema
	schemasErr  error
)

// loadSchemas compiles the embedded schemas once.
func loadSchemas() (map[string]*jsonschema.Schema, error) {
	schemasOnce.Do(func() {
		c := jsonschema.NewCompiler()
		c.AssertFormat()
		for url, file := range schemaFiles {
			b, err := schemaFS.ReadFile(file)
			if err != nil {
				schemasErr = fmt.Errorf("reading embedded schema %s: %w", file, err)
				return
			}
			doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
			if err != nil {
				schemasErr = fmt.Errorf("parsing embedded schema %s: %w", file, err)
				return
			}
			// The FIRST schemas carry a dated $id ("...json?20211103");
			// drop it so that the URL the CSAF schema refers to resolves.
			if m, ok := doc.(map[string]any); ok && strings.Contains(url, "first.org") {
				delete(m, "$id")
				delete(m, "id")
			}
			if err := c.AddResource(url, doc); err != nil {
				schemasErr = fmt.Errorf("adding schema %s: %w", file, err)
				return
			}
		}
		schemas = map[string]*jsonschema.Schema{}
		for _, url := range []string{csafSchemaURL, providerSchemaURL, rolieSchemaURL} {
			s, err := c.Compile(url)
			if err != nil {
				schemasErr = fmt.Errorf("compiling schema %s: %w", url, err)
				return
			}
			schemas[url] = s
		}
	})
	return schemas, schemasErr
}

// validateSchema validates JSON text against one of the embedded schemas
// and returns one Problem per leaf error (test "schema").
func validateSchema(url string, data []byte) ([]Problem, error) {
	ss, err := loadSchemas()
	if err != nil {
		return nil, err
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%w: not JSON: %v", errkind.Invalid, err)
	}
	err = ss[url].Validate(inst)
	if err == nil {
		return nil, nil
	}
	ve, ok := err.(*jsonschema.ValidationError)
	if !ok {
		return nil, fmt.Errorf("schema validation: %w", err)
	}
	var out []Problem
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) == 0 {
			out = append(out, Problem{Test: "schema", Path: "/" + strings.Join(e.InstanceLocation, "/"), Message: e.ErrorKind.LocalizedString(printer)})
			return
		}
		for _, c := range e.Causes {
			walk(c)
		}
	}
	walk(ve)
	return out, nil
}

// ValidateProviderMetadata validates a provider-metadata.json against the
// CSAF 2.0 provider schema.
func ValidateProviderMetadata(data []byte) error {
	ps, err := validateSchema(providerSchemaURL, data)
	if err != nil {
		return err
	}
	return problemsError("provider-metadata.json", ps)
}

// ValidateFeed validates a ROLIE feed against the CSAF 2.0 ROLIE schema.
func ValidateFeed(data []byte) error {
	ps, err := validateSchema(rolieSchemaURL, data)
	if err != nil {
		return err
	}
	return problemsError("ROLIE feed", ps)
}
