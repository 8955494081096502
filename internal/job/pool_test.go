package job_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/coop-diffusion/coop/internal/job"
	"github.com/coop-diffusion/coop/recipes"
)

// TestPoolKeepsEngineCaches: the jobs of one command (here two weights of
// a fusion, as a sweep makes them) share the pool's models, so the second
// job encodes no prompt (the report's text time is zero) and renders the
// same image as a job loaded on its own.
func TestPoolKeepsEngineCaches(t *testing.T) {
	dir := zoo(t)
	const yaml = `version: 1
models:
  sd: {path: sd15}
  xl: {path: sdxl}
prompt: a cup of coffee
seed: 3
steps: 4
stages:
  - participants:
      - {model: sd}
      - {model: xl, prompt: galaxies, weight: %s}
`
	pool := job.NewPool()
	defer pool.Close()
	ctx := context.Background()
	for i, w := range []string{"0.25", "0.75"} {
		r, err := recipes.LoadBytes(filepath.Join(dir, "pool.yaml"), []byte(sprintf(yaml, w)), dir)
		if err != nil {
			t.Fatal(err)
		}
		j, err := job.Prepare(r)
		if err != nil {
			t.Fatal(err)
		}
		ms, err := pool.Load(ctx, j, adaptersOptions(j))
		if err != nil {
			t.Fatal(err)
		}
		res, err := j.Run(ctx, ms, job.RunOptions{Seed: j.Plan.Seed})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Report.Models) != 2 {
			t.Fatalf("weight %s: report of %d models", w, len(res.Report.Models))
		}
		for _, m := range res.Report.Models {
			if i == 0 && m.Text <= 0 {
				t.Errorf("weight %s: the first job's report has no text encoding for %s", w, m.Name)
			}
			if i == 1 && m.Text != 0 {
				t.Errorf("weight %s: the second job encoded %s's prompts again (%v)", w, m.Name, m.Text)
			}
		}
		alone := prepare(t, sprintf(yaml, w)).run(t, job.RunOptions{})
		for k := range alone.Image.Data {
			if alone.Image.Data[k] != res.Image.Data[k] {
				t.Fatalf("weight %s: pixel %d is %v from the pool, %v loaded alone", w, k, res.Image.Data[k], alone.Image.Data[k])
			}
		}
	}
}
