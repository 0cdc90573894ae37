// Package anchors holds the peer comparisons that need heavy dependencies
// (gVisor netstack, asavie/xdp), in a module of their own so that the main
// module does not depend on them. Every benchmark here measures mpxdp and
// the peer in the same run and reports the ratio ("x-<peer>": how many
// times faster mpxdp is).
//
//	cd bench/anchors && go test -run '^$' -bench . -count 6 | benchstat -
package anchors
