package abi

import (
	"strings"
	"testing"
)

func TestIsIdentifier(t *testing.T) {
	tests := []struct {
		s    string
		want bool
	}{
		{"", true},
		{"Bash", true},
		{"mcp__github__get_issue", true},
		{"fed8ce56-bc79-401f-a83e-af084253362f", true},
		{"2025-06-10T12:36:23.208+02:00", true},
		{"us.anthropic.claude-3-7-sonnet-20250219-v1:0", true},
		{"12345", true},
		{strings.Repeat("a", MaxIdentifier), true},
		{strings.Repeat("a", MaxIdentifier+1), false},
		{"two words", false},
		{"/home/u", false},
		{`C:\Users`, false},
		{"a\tb", false},
		{"a\x00b", false},
		{`"quoted"`, false},
		{"it's", false},
		{"café", false},
		{"\xed\xa0\x80", false}, // a lone surrogate, as WTF-8
		{"a@b.com", false},
		{Withheld, false},
	}
	for _, tt := range tests {
		if got := IsIdentifier(tt.s); got != tt.want {
			t.Errorf("IsIdentifier(%.70q) = %v, want %v", tt.s, got, tt.want)
		}
	}
}
