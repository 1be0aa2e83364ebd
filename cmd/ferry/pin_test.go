package main

import "testing"

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"4096": 4096, "10GiB": 10 << 30, "10G": 10 << 30, "500M": 500 << 20,
		"1.5KiB": 1536, "2TB": 2 << 40, "0": 0} {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "ten", "10X", "-1G", "10GG"} {
		if _, err := parseSize(bad); err == nil {
			t.Errorf("parseSize(%q) did not fail", bad)
		}
	}
}
