package tokens

func ptr[T any](v T) *T { return &v }

func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func firstNonNil[T any](vs ...*T) *T {
	for _, v := range vs {
		if v != nil {
			return v
		}
	}
	return nil
}

// opt is a nullable value: nil for a nil pointer, else what it points to.
func opt[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}
