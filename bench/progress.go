package bench

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// ProgressBar returns a function that draws a bar of done out of total on
// w (a terminal's stderr), at most every tenth of a second and at the end,
// finishing with a newline when done reaches total.
func ProgressBar(w io.Writer, label string, total int) func(done int) {
	const width = 30
	start, last := time.Now(), time.Time{}
	return func(done int) {
		if time.Since(last) < 100*time.Millisecond && done < total {
			return
		}
		last = time.Now()
		filled := width * min(done, total) / max(total, 1)
		elapsed := time.Since(start)
		rate := float64(done) / max(elapsed.Seconds(), 1e-9)
		fmt.Fprintf(w, "\r# %s [%s%s] %3d%% %d/%d rows, %.0f rows/s, %s", label, strings.Repeat("#", filled),
			strings.Repeat(" ", width-filled), 100*min(done, total)/max(total, 1), done, total, rate, elapsed.Round(time.Second))
		if done >= total {
			fmt.Fprintln(w)
		}
	}
}
