package source

import "time"

// Status is a source as kizuna vuln source list --json and the HTTP API
// show it: its configuration and health, never its token (Token tells
// whether it has one).
type Status struct {
	Name               string    `json:"name"`
	Kind               string    `json:"kind"`
	URL                string    `json:"url"`
	Every              string    `json:"every"`
	Token              bool      `json:"token"`
	InsecureSkipVerify bool      `json:"insecure_skip_verify"`
	RedRecipients      []string  `json:"red_recipients,omitempty"`
	LastAttempt        time.Time `json:"last_attempt,omitzero"`
	LastSuccess        time.Time `json:"last_success,omitzero"`
	LastError          string    `json:"last_error,omitempty"`
	Failures           int       `json:"consecutive_failures"`
	Fetched            int64     `json:"fetched"`
	Imported           int64     `json:"imported"`
	Failed             int64     `json:"failed"`
	Withheld           int64     `json:"withheld"`
	LastFetched        int64     `json:"last_fetched"`
	LastImported       int64     `json:"last_imported"`
	LastFailed         int64     `json:"last_failed"`
}

// Status returns the source's Status.
func (s State) Status() Status {
	return Status{
		Name: s.Name, Kind: string(s.Kind), URL: s.URL, Every: s.Every.String(), Token: s.Token != "",
		InsecureSkipVerify: s.InsecureSkipVerify, RedRecipients: s.RedRecipients, LastAttempt: s.LastAttempt, LastSuccess: s.LastSuccess,
		LastError: s.LastError, Failures: s.Failures, Fetched: s.Fetched, Imported: s.Imported, Failed: s.Failed,
		Withheld: s.Withheld, LastFetched: s.LastFetched, LastImported: s.LastImported, LastFailed: s.LastFailed,
	}
}

// RunSummary is a run's Result as the HTTP API answers it.
type RunSummary struct {
	Fetched     int          `json:"fetched"`
	Unchanged   int          `json:"unchanged"`
	Failed      int          `json:"failed"`
	Withheld    int          `json:"withheld"`
	NotModified bool         `json:"not_modified,omitempty"`
	Added       int          `json:"records_added"`
	Updated     int          `json:"records_updated"`
	STIX        int          `json:"stix_objects"`
	NewFindings int          `json:"new_findings"`
	Skipped     []string     `json:"skipped,omitempty"`
	Failures    []RunFailure `json:"failures,omitempty"`
	KeyProblems []string     `json:"key_problems,omitempty"`
	// Error is the run's error ("" when it succeeded), as recorded in the
	// source's health.
	Error string `json:"error,omitempty"`
}

// RunFailure is one failed document or list.
type RunFailure struct {
	URL   string `json:"url"`
	Error string `json:"error"`
}

// Summary returns the RunSummary of a run that ended with err.
func (res Result) Summary(err error) RunSummary {
	s := RunSummary{
		Fetched: res.Fetched, Unchanged: res.Unchanged, Failed: res.Failed, Withheld: res.Withheld,
		NotModified: res.NotModified, Added: res.Added, Updated: res.Updated, STIX: res.STIX,
		NewFindings: res.NewFindings, Skipped: res.Skipped, KeyProblems: res.KeyProblems,
	}
	for _, f := range res.Failures {
		s.Failures = append(s.Failures, RunFailure{URL: f.URL, Error: f.Err.Error()})
	}
	if err != nil {
		s.Error = err.Error()
	}
	return s
}
