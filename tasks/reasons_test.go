package tasks_test

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spmsg/spmsg/jobstate"
	"github.com/spmsg/spmsg/tasks"
)

// README's "Final outcomes" table lists every reason, under its outcome,
// and nothing else; its deferrals metric lists every deferral reason.
func TestReadmeListsEveryReason(t *testing.T) {
	b, err := os.ReadFile("../README.md")
	require.NoError(t, err)
	readme := string(b)
	word := regexp.MustCompile("`([a-z_]+)`")

	documented := map[jobstate.Reason]jobstate.Outcome{}
	for _, o := range jobstate.Outcomes() {
		row := regexp.MustCompile("(?m)^\\| `" + string(o) + "` \\|[^|]*\\|(.*)\\|$").FindStringSubmatch(readme)
		require.NotNil(t, row, "README has no row for outcome %s", o)
		for _, m := range word.FindAllStringSubmatch(row[1], -1) {
			if m[1] != "InternalFailure" {
				documented[jobstate.Reason(m[1])] = o
			}
		}
	}
	assert.Equal(t, jobstate.Reasons(), documented, "README's Final outcomes table against jobstate.Reasons()")

	row := regexp.MustCompile("(?m)^\\| `spmsg_job_deferrals_total` \\|.*$").FindString(readme)
	require.NotEmpty(t, row, "README lists spmsg_job_deferrals_total")
	var want, got []string
	for _, r := range tasks.DeferReasons() {
		want = append(want, string(r))
	}
	for _, m := range word.FindAllStringSubmatch(strings.SplitN(row, "|", 4)[3], -1) {
		got = append(got, m[1])
	}
	assert.ElementsMatch(t, want, got, "README's deferral reasons against tasks.DeferReasons()")
}
