package main

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// progress shows how far a batch is: a progress bar on a terminal, plain
// lines every few seconds otherwise.
type progress struct {
	bar   *progressbar.ProgressBar
	w     io.Writer
	total int64
	last  time.Time
	off   bool
	pos   int64
}

func newProgress(w io.Writer, total int64, off bool) *progress {
	p := &progress{w: w, total: total, off: off, last: time.Now()}
	if off {
		return p
	}
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		p.bar = progressbar.NewOptions64(total, progressbar.OptionSetWriter(w), progressbar.OptionShowBytes(true),
			progressbar.OptionSetDescription("batch"), progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionClearOnFinish())
	}
	return p
}

func (p *progress) set(n int64) {
	if p.off {
		return
	}
	p.pos = n
	if p.bar != nil {
		_ = p.bar.Set64(n)
		return
	}
	if time.Since(p.last) >= 5*time.Second {
		p.last = time.Now()
		if p.total > 0 {
			fmt.Fprintf(p.w, "batch: %d%% read (%d of %d bytes)\n", n*100/p.total, n, p.total)
		} else {
			fmt.Fprintf(p.w, "batch: %d bytes read\n", n)
		}
	}
}

func (p *progress) finish() {
	if p.off {
		return
	}
	if p.bar != nil {
		_ = p.bar.Finish()
	}
}
