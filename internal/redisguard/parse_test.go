package redisguard

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
)

// Ensure the version gate for WAITAOF is right at its edges.
func TestVersionAtLeast(t *testing.T) {
	for v, want := range map[string]bool{
		"7.2.0": true, "7.2.4": true, "7.4.1": true, "8.0.0": true, "10.0.0": true,
		"7.0.15": false, "7.1.242": false, "6.2.14": false, "": false, "x.y": false, "7": false,
	} {
		assert.Equal(t, want, versionAtLeast(v, 7, 2), v)
	}
}

// Ensure the refusals managed services and ACLs give are told apart from
// other errors (a network error must not pass for "CONFIG forbidden").
func TestForbidden(t *testing.T) {
	for msg, want := range map[string]bool{
		"ERR unknown command 'config', with args beginning with: 'get' 'appendonly'": true,
		"NOPERM User spmsg has no permissions to run the 'config|get' command":       true,
		"ERR CONFIG GET appendonly: no value":                                        true,
		"ERR command CONFIG not allowed":                                             true,
		"dial tcp 127.0.0.1:6379: connect: connection refused":                       false,
		"ERR wrong number of arguments for 'get' command":                            false,
		"LOADING Redis is loading the dataset in memory":                             false,
	} {
		assert.Equal(t, want, forbidden(errors.New(msg)), msg)
	}
}

// Ensure INFO fields are read by exact name.
func TestInfoField(t *testing.T) {
	info := "# Replication\r\nrole:master\r\nconnected_slaves:2\r\nslave0:ip=127.0.0.1,port=1,state=online\r\n"
	assert.Equal(t, "master", infoField(info, "role"))
	assert.Equal(t, "2", infoField(info, "connected_slaves"))
	assert.Equal(t, "", infoField(info, "slave"))
}
