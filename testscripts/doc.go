// Package testscripts runs the hsu command line as a user does, from
// testscript (.txtar) files under testdata/: each file is one case with its
// config files, the commands to run and the output they must print.
package testscripts
