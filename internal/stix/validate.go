package stix

// Validate checks an object against the STIX 2.1 rules and returns every
// problem found (nil when valid).
//
// PLACEHOLDER: replaced by the full validator.
func Validate(o *Object) []*Error {
	var errs []*Error
	if o.SpecVersion == "" && o.Type != "bundle" {
		errs = append(errs, &Error{ObjectID: o.ID, Property: "spec_version", Message: "required property missing"})
	}
	return errs
}
