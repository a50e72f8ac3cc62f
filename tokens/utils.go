package tokens

import (
	"time"

	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/upstream"
)

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

// upstreamEpoch reads a Query Server time, which is seconds unless it can only be milliseconds.
func upstreamEpoch(v int64) *time.Time { return upstream.EpochAuto(v) }
