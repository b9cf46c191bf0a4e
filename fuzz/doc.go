// Package fuzz holds hsu's fuzz targets and their corpora (testdata/fuzz).
// Run one with
//
//	go test -run '^$' -fuzz FuzzParseConfig -fuzztime 60s ./fuzz/
//
// or all of them with make fuzz; plain go test runs the corpora as
// regression tests.
package fuzz
