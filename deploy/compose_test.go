// Package deploy holds deployment files' tests: docker-compose.yml is
// parsed and checked with the Compose specification's own library, so a
// broken file fails CI even on machines without a Docker engine.
package deploy

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spmsg/spmsg/tasks"
)

var exampleEnv = []string{
	"SPAPI_LWA_CLIENT_ID=id", "SPAPI_LWA_CLIENT_SECRET=secret",
	"S3_ACCESS_KEY=access", "S3_SECRET_KEY=secretkey", "ENQUEUE_API_TOKENS=token",
}

func load(t *testing.T, env []string) (*types.Project, error) {
	t.Helper()
	opts, err := cli.NewProjectOptions([]string{filepath.Join("..", "docker-compose.yml")},
		cli.WithWorkingDirectory(".."), cli.WithEnv(env), cli.WithDiscardEnvFile)
	require.NoError(t, err)
	return opts.LoadProject(context.Background())
}

// Ensure docker-compose.yml is valid Compose with every service README
// promises, Redis persistence on, healthchecks, and no secrets in it.
func TestComposeFile(t *testing.T) {
	p, err := load(t, exampleEnv)
	require.NoError(t, err)
	for _, name := range []string{"redis", "worker", "enqueue-api", "sandbox", "asynqmon", "minio"} {
		_, err := p.GetService(name)
		require.NoError(t, err, "service %s", name)
	}
	redis, _ := p.GetService("redis")
	assert.Contains(t, strings.Join(redis.Command, " "), "--appendonly yes", "the ledger needs AOF")
	assert.Contains(t, strings.Join(redis.Command, " "), "noeviction")
	for _, name := range []string{"redis", "worker", "sandbox", "minio"} {
		s, _ := p.GetService(name)
		require.NotNil(t, s.HealthCheck, "%s has a healthcheck", name)
	}
	worker, _ := p.GetService("worker")
	assert.Equal(t, "redis://redis:6379/0", *worker.Environment["REDIS_URL"])
	assert.Equal(t, "http://sandbox:8090", *worker.Environment["SPAPI_ENDPOINT"])
	asynqmon, _ := p.GetService("asynqmon")
	assert.Contains(t, strings.Join(asynqmon.Command, " "), "redis://redis:6379/0", "asynqmon sees the same Redis")

	raw, err := os.ReadFile(filepath.Join("..", "docker-compose.yml"))
	require.NoError(t, err)
	for _, v := range []string{"secret", "token", "access"} {
		assert.NotContains(t, string(raw), "="+v, "no literal secrets")
	}
}

// Ensure the stack refuses to start without its secrets instead of running
// with defaults.
func TestComposeRequiresSecrets(t *testing.T) {
	_, err := load(t, nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "set ")
}

// Ensure the example sellers file mounted into the stack is valid.
func TestExampleSellersFile(t *testing.T) {
	s, err := tasks.LoadSellersFile("sellers.example.json")
	require.NoError(t, err)
	assert.Len(t, s.List(), 2)
}
