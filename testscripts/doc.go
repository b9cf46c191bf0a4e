// Package testscripts runs the hsu and hsu-sim command lines as a user
// does, from testscript (.txtar) files under testdata/hsu and testdata/sim:
// each file is one case with its config or scenario files, the commands to
// run and the output they must print.
package testscripts
