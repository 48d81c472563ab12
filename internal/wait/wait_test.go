package wait_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/spmsg/spmsg/internal/wait"
)

func TestSleep(t *testing.T) {
	assert.NoError(t, wait.Sleep(context.Background(), time.Millisecond))
	assert.NoError(t, wait.Sleep(context.Background(), 0))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	assert.ErrorIs(t, wait.Sleep(ctx, time.Hour), context.Canceled, "a cancelled context ends the wait")
	assert.ErrorIs(t, wait.Sleep(ctx, 0), context.Canceled)
}
