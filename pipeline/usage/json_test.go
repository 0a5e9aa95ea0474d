package usage

import (
	"math"
	"testing"
)

// The wanted strings are what ccusage 20.0.24 printed for these costs.
func TestRustFloat(t *testing.T) {
	tests := []struct {
		in   float64
		want string
	}{
		{0, "0.0"},
		{math.Copysign(0, -1), "-0.0"},
		{1, "1.0"},
		{100, "100.0"},
		{1e15, "1000000000000000.0"},
		{1e16, "1e+16"},
		{1.5e17, "1.5e+17"},
		{1e21, "1e+21"},
		{3e21, "3e+21"},
		{1.2345678901234568e20, "1.2345678901234568e+20"},
		{1234567890123456.8, "1234567890123456.8"},
		{12345678901234567.0, "1.2345678901234568e+16"},
		{123456789.125, "123456789.125"},
		{0.30000000000000004, "0.30000000000000004"},
		{2.2783322999999998, "2.2783322999999998"},
		{0.001, "0.001"},
		{1e-5, "0.00001"},
		{1.5e-5, "0.000015"},
		{1e-6, "1e-6"},
		{1.5e-6, "1.5e-6"},
		{9.9e-7, "9.9e-7"},
		{1.23e-7, "1.23e-7"},
		{5e-324, "5e-324"},
		{1.7976931348623157e308, "1.7976931348623157e+308"},
		{-0.25, "-0.25"},
		{math.NaN(), "null"},
		{math.Inf(1), "null"},
	}
	for _, tt := range tests {
		if got := string(appendRustFloat(nil, tt.in)); got != tt.want {
			t.Errorf("appendRustFloat(%v) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

// A block's costUSD is an integer when it is one (ccusage's json_float).
func TestIntOrFloat(t *testing.T) {
	tests := []struct {
		in   float64
		want string
	}{
		{0, "0"},
		{math.Copysign(0, -1), "0"},
		{1, "1"},
		{0.5, "0.5"},
		{1e16, "10000000000000000"},
		{3e21, "3e+21"},
		{math.Inf(-1), "null"},
	}
	for _, tt := range tests {
		w := jsonWriter{}
		intOrFloat(tt.in).write(&w)
		if got := string(w.buf); got != tt.want {
			t.Errorf("intOrFloat(%v) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

func TestJSONString(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain", `"plain"`},
		{`q"b\`, `"q\"b\\"`},
		{"\b\f\n\r\t\x01\x1f", `"\b\f\n\r\t\u0001\u001f"`},
		{"<&>\u2028é", "\"<&>\u2028é\""},
		{"bad\xffutf8", "\"bad\ufffdutf8\""},
	}
	for _, tt := range tests {
		if got := string(appendJSONString(nil, tt.in)); got != tt.want {
			t.Errorf("appendJSONString(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

func TestJSONLayout(t *testing.T) {
	v := jsonObject{
		{"b", jsonArray{}},
		{"a", jsonArray{jsonInt(1), jsonObject{}}},
		{"c", jsonNull{}},
	}
	want := "{\n  \"a\": [\n    1,\n    {}\n  ],\n  \"b\": [],\n  \"c\": null\n}\n"
	if got := string(render(v)); got != want {
		t.Errorf("render = %q, want %q", got, want)
	}
}
