package main

import (
	"strings"
	"testing"
)

// TestLineTable checks that lineTable draws what go-pretty (newTable) draws, for plain cells,
// wide and accented runes, empty cells and no footer, and that it hands a cell it cannot draw to
// go-pretty.
func TestLineTable(t *testing.T) {
	tests := []struct {
		name      string
		header    []string
		rows      [][]string
		footer    []string
		rightFrom int
	}{
		{"sessions", []string{"Start", "Session", "Project", "Tokens", "Cost (USD)"}, [][]string{
			{"2026-03-02 09:00", "00000000-0000-4000-8000-000000000000", "fa430adde4fa", "34,416", "$0.03"},
			{"2026-03-02 21:00", "9e3779b1", "", "1", "$10.14"},
		}, []string{"Total", "2 sessions", "", "34,417", "$10.17"}, 4},
		{"wide and accented", []string{"Project", "Turns"}, [][]string{
			{"日本語のプロジェクト", "3"}, {"café", "12"}, {"x", ""},
		}, []string{"Total", "15"}, 2},
		{"no footer", []string{"a", "b", "c"}, [][]string{{"1", "22", "333"}}, nil, 1},
		{"no rows", []string{"Kind", "Count"}, nil, []string{"Total", "0"}, 2},
		{"newline falls back", []string{"Name", "N"}, [][]string{{"two\nlines", "1"}, {"tab\there", "2"}}, []string{"Total", "3"}, 2},
		{"escape falls back", []string{"Name", "N"}, [][]string{{"\x1b[31mred\x1b[0m", "1"}}, nil, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lt := newLineTable(tt.header, tt.rightFrom)
			for _, r := range tt.rows {
				lt.appendRow(r...)
			}
			if tt.footer != nil {
				lt.setFooter(tt.footer...)
			}
			var got, want strings.Builder
			lt.render(&got)
			lt.renderPretty(&want)
			if got.String() != want.String() {
				t.Errorf("lineTable drew\n%s\ngo-pretty draws\n%s", got.String(), want.String())
			}
		})
	}
}
