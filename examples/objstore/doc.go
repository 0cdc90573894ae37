// Objstore is a tiny object store over mpxdp connections: the server
// keeps blobs in memory, clients PUT and GET them by name over one
// long-lived MPTCP connection each, the way a storage service would use
// the library.
//
// The protocol is one line of header per request, then the body:
//
//	PUT <name> <length>\n<length bytes>   →  OK <sha256 hex>\n
//	GET <name>\n                          →  OK <length>\n<length bytes>
//	                                         ERR not found\n
//
// Usage:
//
//	objstore demo                   # a server and clients in one process, over two impaired in-memory paths
//	objstore server -iface eth0,eth1 -listen :7000        # AF_XDP (root)
//	objstore client -iface eth0 -server 10.0.1.2:7000 -put name=file
//	objstore client -iface eth0 -server 10.0.1.2:7000 -get name > file
package main
