// Command benchab compares coop binaries on one recipe: it runs
// `BINARY bench --json --runs N [flags] RECIPE` for each binary in turn,
// REPS times (interleaved, so that the load of a shared machine falls on
// all of them alike), and prints for each the medians over all measured
// runs of the wall time, the engine's overhead and its share of the wall
// time. docs/PERFORMANCE.md quotes its output.
//
//	go run ./scripts/benchab -reps 4 -runs 20 -recipe /tmp/d/3-blend.yaml \
//	    [-flags '--threads 1 --concurrency sequential'] OLD/coop NEW/coop
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
)

// benchRun is the part of a coop bench --json run this tool reads.
type benchRun struct {
	WallNS     float64 `json:"wall_ns"`
	OverheadNS float64 `json:"overhead_ns"`
}

func main() {
	reps := flag.Int("reps", 4, "rounds over the binaries")
	runs := flag.Int("runs", 20, "measured runs per bench call")
	recipe := flag.String("recipe", "", "recipe to bench")
	extra := flag.String("flags", "", "more coop bench flags, space-separated")
	flag.Parse()
	if *recipe == "" || flag.NArg() == 0 || *reps < 1 || *runs < 1 {
		fmt.Fprintln(os.Stderr, "usage: benchab -recipe R.yaml [-reps N] [-runs N] [-flags '...'] BINARY...")
		os.Exit(2)
	}
	bins := flag.Args()
	got := make([][]benchRun, len(bins))
	for range *reps {
		for i, bin := range bins {
			args := append([]string{"bench", "--json", "--runs", fmt.Sprint(*runs)}, strings.Fields(*extra)...)
			cmd := exec.Command(bin, append(args, *recipe)...)
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, os.Stderr
			if err := cmd.Run(); err != nil {
				fmt.Fprintf(os.Stderr, "%s: %v\n", bin, err)
				os.Exit(1)
			}
			var rep struct{ Runs []benchRun }
			if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
				fmt.Fprintf(os.Stderr, "%s: reading bench --json: %v\n", bin, err)
				os.Exit(1)
			}
			got[i] = append(got[i], rep.Runs...)
		}
	}
	for i, bin := range bins {
		wall, over, share := make([]float64, 0, len(got[i])), make([]float64, 0, len(got[i])), make([]float64, 0, len(got[i]))
		for _, r := range got[i] {
			wall, over, share = append(wall, r.WallNS/1e6), append(over, r.OverheadNS/1e6), append(share, 100*r.OverheadNS/r.WallNS)
		}
		fmt.Printf("%s: wall %.3f ms, overhead %.3f ms, share %.2f %% (medians of %d runs)\n",
			bin, median(wall), median(over), median(share), len(got[i]))
	}
}

func median(xs []float64) float64 {
	slices.Sort(xs)
	n := len(xs)
	if n%2 == 1 {
		return xs[n/2]
	}
	return (xs[n/2-1] + xs[n/2]) / 2
}
