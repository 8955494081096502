package job_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/coop-diffusion/coop/coop"
	"github.com/coop-diffusion/coop/internal/faults"
	"github.com/coop-diffusion/coop/internal/fixtures"
	"github.com/coop-diffusion/coop/internal/job"
	"github.com/coop-diffusion/coop/latent"
	"github.com/coop-diffusion/coop/recipes"
	"github.com/coop-diffusion/coop/recipes/demo"
)

// demoDir lays out the fixture demo once per test binary: the demo
// recipes next to zoo, a link to the fixture zoo with its control images.
func demoDir(t testing.TB) string {
	t.Helper()
	zooDir := zoo(t)
	dir := filepath.Join(zooDir, "demo")
	if _, err := os.Stat(filepath.Join(dir, demo.ZooDir)); err == nil {
		return dir
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := demo.Write(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(zooDir, filepath.Join(dir, demo.ZooDir)); err != nil && !os.IsExist(err) {
		t.Fatal(err)
	}
	return dir
}

// demoJob loads demo recipe name with the --set overrides sets and its
// models, with threads intra-op threads per session (0: automatic).
func demoJob(t testing.TB, name string, threads int, sets ...string) *prepared {
	t.Helper()
	r, err := recipes.Loader{Sets: sets}.Load(filepath.Join(demoDir(t), name))
	if err != nil {
		t.Fatal(err)
	}
	r.Threads = threads
	j, err := job.Prepare(r)
	if err != nil {
		t.Fatal(err)
	}
	ms, err := j.Load(context.Background(), adaptersOptions(j))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ms.Close() })
	return &prepared{job: j, models: ms}
}

// reportRun adds a run's figures to the benchmark's totals.
type benchTotals struct {
	n                      int
	ort, overhead, bridges time.Duration
	wall                   time.Duration
}

func (bt *benchTotals) add(rep *coop.Report) {
	bt.n++
	bt.wall += rep.Wall
	bt.ort += rep.ORT - rep.Overlap
	bt.overhead += rep.Overhead
	for _, b := range rep.Bridges {
		bt.bridges += b.Time
	}
}

func (bt *benchTotals) report(b *testing.B) {
	per := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / float64(bt.n) }
	b.ReportMetric(per(bt.ort), "ort-ns/op")
	b.ReportMetric(per(bt.bridges), "bridge-ns/op")
	b.ReportMetric(per(bt.overhead), "overhead-ns/op")
	b.ReportMetric(100*float64(bt.overhead)/float64(bt.wall), "overhead-%")
}

// benchRuns runs p b.N times after a first run that opens the sessions.
// Besides the report's figures it reports cpu-ns/op, the process's CPU
// time per run (every thread, ONNX Runtime's included): on a machine
// shared with other jobs, wall times above it by much mean the run waited
// for a core.
func benchRuns(b *testing.B, p *prepared, o job.RunOptions) *coop.Result {
	first := p.run(b, o)
	// The measured runs write their images into one buffer, as a caller
	// rendering image after image does (coop.Engine.Image).
	o.Image = latent.New(first.Image.Shape...)
	var bt benchTotals
	cpu0 := processCPU(b)
	for b.Loop() {
		bt.add(p.run(b, o).Report)
	}
	b.ReportMetric(float64((processCPU(b)-cpu0).Nanoseconds())/float64(bt.n), "cpu-ns/op")
	bt.report(b)
	return first
}

// BenchmarkDemo runs the fixture demo recipes at 512 px: one model,
// two-model fusion across latent spaces and single-pass super-resolution,
// then the two ControlNets across spaces and Stable Cascade.
// Besides the wall time per run it reports the time inside ONNX Runtime,
// in the pixel bridges and the engine's overhead (wall minus the time
// waiting for ONNX Runtime), absolute and as a share of the wall time.
func BenchmarkDemo(b *testing.B) {
	for _, c := range []struct{ name, file string }{
		{"plain", "1-plain.yaml"}, {"fusion", "3-blend.yaml"}, {"superres", "5-superres.yaml"},
		{"multi-control", "4-multi-control.yaml"}, {"cascade", "6-cascade.yaml"},
	} {
		b.Run(c.name, func(b *testing.B) {
			benchRuns(b, demoJob(b, c.file, 0), job.RunOptions{})
		})
	}
}

// BenchmarkParticipants runs two participants of one step concurrently
// with one intra-op thread per session (two cores, two participants),
// concurrently when it pays (the default), and one after the other with
// one and with two threads per session: on the
// fusion across spaces (each step: two predictions and two pixel bridges),
// on two models sharing one space (two predictions of the fixture unets,
// about 0.2 ms each) and on the same with unets that cost tens of
// milliseconds a call (internal/faults' Slow body).
func BenchmarkParticipants(b *testing.B) {
	slow := slowZoo(b, 1, "sd15", "sd21v")
	for _, c := range []struct {
		name string
		file string
		sets []string
	}{
		{"across-spaces", "3-blend.yaml", nil},
		{"same-space", "3-blend.yaml", []string{"models.xl.path=zoo/sd21v"}},
		{"same-space-heavy", "3-blend.yaml", []string{"models.sd15.path=" + filepath.Join(slow, "sd15"), "models.xl.path=" + filepath.Join(slow, "sd21v"), "steps=10"}},
	} {
		for _, m := range []struct {
			name    string
			threads int
			mode    coop.Concurrency
		}{
			{"concurrent-1thread", 1, coop.AlwaysConcurrent},
			{"auto-1thread", 1, coop.ConcurrentWhenItPays},
			{"sequential-1thread", 1, coop.Sequential},
			{"sequential-2threads", 2, coop.Sequential},
			{"concurrent-2threads", 2, coop.AlwaysConcurrent},
			{"auto-2threads", 2, coop.ConcurrentWhenItPays},
		} {
			b.Run(c.name+"/"+m.name, func(b *testing.B) {
				p := demoJob(b, c.file, m.threads, c.sets...)
				benchRuns(b, p, job.RunOptions{Concurrency: m.mode})
			})
		}
	}
}

// slowZoo copies the named fixture folders into a temporary folder with
// their unets replaced by a chain of depth pairs of large MatMuls
// (internal/faults' Slow body, tens of milliseconds a call; the images
// are meaningless) and returns the folder.
func slowZoo(b *testing.B, depth int, models ...string) string {
	dir := b.TempDir()
	for _, m := range models {
		fixtures.CopyTree(b, filepath.Join(zoo(b), m), filepath.Join(dir, m))
		if err := faults.RewriteModel(filepath.Join(dir, m, "unet", "model.onnx"), faults.Options{Body: faults.Slow, Depth: depth}); err != nil {
			b.Fatal(err)
		}
	}
	return dir
}

// BenchmarkBridgeEvery runs the fusion across spaces bridging the foreign
// participant every k steps, and reports the PSNR of its image against
// bridging every step.
func BenchmarkBridgeEvery(b *testing.B) {
	ref := demoJob(b, "3-blend.yaml", 0).run(b, job.RunOptions{})
	for _, k := range []string{"1", "2", "4"} {
		b.Run("k="+k, func(b *testing.B) {
			p := demoJob(b, "3-blend.yaml", 0, "stages.0.participants.1.bridge={every: "+k+"}")
			first := benchRuns(b, p, job.RunOptions{})
			b.ReportMetric(latent.PSNR(first.Image, ref.Image, 1), "psnr-dB")
		})
	}
}

// BenchmarkOverheadVsModelCost runs the plain and fusion demo recipes, one
// intra-op thread per session, with their unets replaced by graphs of a
// chosen cost (a chain of large MatMuls, internal/faults' Slow body; the
// images are meaningless): the
// engine's overhead per run stays about what it is with the fixture
// unets, so its share of the wall time falls as the models get heavier.
func BenchmarkOverheadVsModelCost(b *testing.B) {
	for _, depth := range []int{1, 4} {
		dir := slowZoo(b, depth, "sd15", "sdxl")
		for _, c := range []struct {
			name, file string
			sets       []string
		}{
			{"plain", "1-plain.yaml", []string{"models.sd15.path=" + filepath.Join(dir, "sd15")}},
			{"fusion", "3-blend.yaml", []string{"models.sd15.path=" + filepath.Join(dir, "sd15"), "models.xl.path=" + filepath.Join(dir, "sdxl")}},
		} {
			b.Run(sprintf("%s/depth=%d", c.name, depth), func(b *testing.B) {
				benchRuns(b, demoJob(b, c.file, 1, c.sets...), job.RunOptions{})
			})
		}
	}
}
