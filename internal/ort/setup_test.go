package ort

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

// fakeBundle describes a small stand-in for the onnxruntime-node package.
func fakeBundle(content []byte) bundle {
	sum := sha256.Sum256(content)
	return bundle{
		pkg:     "fake-runtime",
		version: "9.9.9",
		member:  "package/bin/napi-v6/linux/x64/libonnxruntime.so.1",
		sha256:  hex.EncodeToString(sum[:]),
	}
}

// fakeTarball builds a gzip'd tar with the given members, in order.
func fakeTarball(t *testing.T, members map[string][]byte, order ...string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, name := range order {
		data := members[name]
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(data); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// registry serves tarball at the npm tarball URL of b and counts requests.
func registry(t *testing.T, b bundle, tarball []byte) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var hits atomic.Int32
	want := "/" + b.pkg + "/-/" + b.pkg + "-" + b.version + ".tgz"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if r.URL.Path != want {
			http.NotFound(w, r)
			return
		}
		w.Write(tarball)
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

func TestInstallExtractsOnlyTheLibrary(t *testing.T) {
	lib := []byte("\x7fELF pretend shared library")
	b := fakeBundle(lib)
	tarball := fakeTarball(t, map[string][]byte{
		"package/package.json":                                []byte(`{"name":"fake-runtime"}`),
		"package/bin/napi-v6/linux/arm64/libonnxruntime.so.1": []byte("wrong architecture"),
		b.member:            lib,
		"package/README.md": []byte("after the library"),
	}, "package/package.json", "package/bin/napi-v6/linux/arm64/libonnxruntime.so.1", b.member, "package/README.md")
	srv, hits := registry(t, b, tarball)

	dest := filepath.Join(t.TempDir(), "cache", "onnxruntime", b.version, "libonnxruntime.so.1")
	var log bytes.Buffer
	in := installer{bundle: b, dest: dest, registry: srv.URL, progress: &log}
	if err := in.install(context.Background(), false); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(dest)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, lib) {
		t.Errorf("installed %q, want %q", got, lib)
	}
	if hits.Load() != 1 {
		t.Errorf("%d requests, want 1", hits.Load())
	}
	entries, _ := os.ReadDir(filepath.Dir(dest))
	if len(entries) != 1 {
		t.Errorf("cache directory holds %d entries, want only the library (no temporary files)", len(entries))
	}
	if !strings.Contains(log.String(), "installed") {
		t.Errorf("progress %q does not report the installation", log.String())
	}

	// Present and intact: no network, nothing rewritten.
	log.Reset()
	if err := in.install(context.Background(), false); err != nil {
		t.Fatal(err)
	}
	if hits.Load() != 1 {
		t.Errorf("second install made a request; it should find the intact copy")
	}
	if !strings.Contains(log.String(), "already installed") {
		t.Errorf("progress %q does not say the library is already installed", log.String())
	}

	// Force downloads again.
	if err := in.install(context.Background(), true); err != nil {
		t.Fatal(err)
	}
	if hits.Load() != 2 {
		t.Errorf("forced install made %d requests in all, want 2", hits.Load())
	}
}

func TestInstallReplacesCorruptCopy(t *testing.T) {
	lib := []byte("the real thing")
	b := fakeBundle(lib)
	srv, hits := registry(t, b, fakeTarball(t, map[string][]byte{b.member: lib}, b.member))
	dest := filepath.Join(t.TempDir(), "libonnxruntime.so.1")
	if err := os.WriteFile(dest, []byte("half a downl"), 0o644); err != nil {
		t.Fatal(err)
	}
	in := installer{bundle: b, dest: dest, registry: srv.URL + "/"}
	if err := in.install(context.Background(), false); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(dest); !bytes.Equal(got, lib) || hits.Load() != 1 {
		t.Errorf("after install: %q with %d requests, want %q downloaded once", got, hits.Load(), lib)
	}
}

func TestInstallHashMismatch(t *testing.T) {
	lib := []byte("expected content")
	b := fakeBundle(lib)
	tampered := []byte("tampered content")
	srv, _ := registry(t, b, fakeTarball(t, map[string][]byte{b.member: tampered}, b.member))
	dest := filepath.Join(t.TempDir(), "libonnxruntime.so.1")
	in := installer{bundle: b, dest: dest, registry: srv.URL}
	err := in.install(context.Background(), false)
	sum := sha256.Sum256(tampered)
	for _, want := range []string{b.member, hex.EncodeToString(sum[:]), b.sha256} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("err = %v, want it to name %s", err, want)
		}
	}
	if _, statErr := os.Stat(dest); !os.IsNotExist(statErr) {
		t.Errorf("a library with the wrong hash was left at %s", dest)
	}
	entries, _ := os.ReadDir(filepath.Dir(dest))
	if len(entries) != 0 {
		t.Errorf("temporary files left behind: %v", entries)
	}
}

func TestInstallErrors(t *testing.T) {
	lib := []byte("library")
	b := fakeBundle(lib)
	cases := []struct {
		name    string
		tarball []byte
		want    string
	}{
		{"member missing", fakeTarball(t, map[string][]byte{"package/README.md": []byte("x")}, "package/README.md"), "has no " + b.member},
		{"not gzip", []byte("<html>proxy login page</html>"), "not a gzip'd tarball"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv, _ := registry(t, b, c.tarball)
			in := installer{bundle: b, dest: filepath.Join(t.TempDir(), "lib.so"), registry: srv.URL}
			err := in.install(context.Background(), false)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("err = %v, want it to contain %q", err, c.want)
			}
		})
	}
	t.Run("http status", func(t *testing.T) {
		srv, _ := registry(t, bundle{pkg: "other", version: "0"}, nil)
		in := installer{bundle: b, dest: filepath.Join(t.TempDir(), "lib.so"), registry: srv.URL}
		err := in.install(context.Background(), false)
		if err == nil || !strings.Contains(err.Error(), "404") || !strings.Contains(err.Error(), in.tarballURL()) {
			t.Errorf("err = %v, want a 404 naming %s", err, in.tarballURL())
		}
	})
}

// fakeNpm writes an executable named npm that behaves like `npm pack` for
// the given tarball (or fails with an npm-style error when tarball is nil)
// and records its arguments.
func fakeNpm(t *testing.T, b bundle, tarball []byte) (npm, argsFile string) {
	t.Helper()
	dir := t.TempDir()
	argsFile = filepath.Join(dir, "args")
	src := filepath.Join(dir, "pkg.tgz")
	script := "#!/bin/sh\necho \"$@\" > " + argsFile + "\n"
	if tarball == nil {
		script += "echo 'npm warn Unknown user config \"nodedir\"' >&2\necho 'npm error code E404' >&2\necho 'npm error 404 Not Found' >&2\nexit 1\n"
	} else {
		if err := os.WriteFile(src, tarball, 0o644); err != nil {
			t.Fatal(err)
		}
		// npm pack writes <name>-<version>.tgz into --pack-destination.
		script += "cp " + src + " \"$4/" + b.pkg + "-" + b.version + ".tgz\"\necho " + b.pkg + "-" + b.version + ".tgz\n"
	}
	npm = filepath.Join(dir, "npm")
	if err := os.WriteFile(npm, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return npm, argsFile
}

func TestInstallWithNpm(t *testing.T) {
	lib := []byte("library via npm")
	b := fakeBundle(lib)
	npm, argsFile := fakeNpm(t, b, fakeTarball(t, map[string][]byte{b.member: lib}, b.member))
	srv, hits := registry(t, b, nil)
	dest := filepath.Join(t.TempDir(), "libonnxruntime.so.1")
	in := installer{bundle: b, dest: dest, npm: npm, registry: srv.URL}
	if err := in.install(context.Background(), false); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(dest); !bytes.Equal(got, lib) {
		t.Errorf("installed %q, want %q", got, lib)
	}
	if hits.Load() != 0 {
		t.Errorf("the registry was contacted although npm succeeded")
	}
	args, _ := os.ReadFile(argsFile)
	if !strings.HasPrefix(string(args), "pack "+b.pkg+"@"+b.version+" --pack-destination ") {
		t.Errorf("npm called with %q", args)
	}
}

func TestInstallFallsBackFromNpmToHTTP(t *testing.T) {
	lib := []byte("library via http")
	b := fakeBundle(lib)
	npm, _ := fakeNpm(t, b, nil)
	srv, hits := registry(t, b, fakeTarball(t, map[string][]byte{b.member: lib}, b.member))
	dest := filepath.Join(t.TempDir(), "libonnxruntime.so.1")
	var log bytes.Buffer
	in := installer{bundle: b, dest: dest, npm: npm, registry: srv.URL, progress: &log}
	if err := in.install(context.Background(), false); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(dest); !bytes.Equal(got, lib) || hits.Load() != 1 {
		t.Errorf("installed %q with %d requests, want %q from one request", got, hits.Load(), lib)
	}
	if !strings.Contains(log.String(), "npm error 404 Not Found") || strings.Contains(log.String(), "nodedir") {
		t.Errorf("progress %q should quote npm's error lines, not its warnings", log.String())
	}

	// Both failing reports both.
	srv.Close()
	err := (&installer{bundle: b, dest: filepath.Join(t.TempDir(), "x"), npm: npm, registry: srv.URL}).install(context.Background(), false)
	if err == nil || !strings.Contains(err.Error(), "npm pack failed too") {
		t.Errorf("err = %v, want both failures reported", err)
	}
}

func TestInstallCancelled(t *testing.T) {
	b := fakeBundle([]byte("x"))
	srv, _ := registry(t, b, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	in := installer{bundle: b, dest: filepath.Join(t.TempDir(), "lib.so"), registry: srv.URL}
	if err := in.install(ctx, false); err == nil || !strings.Contains(err.Error(), "context canceled") {
		t.Errorf("err = %v, want context canceled", err)
	}
}

func TestRegistryFromEnv(t *testing.T) {
	t.Setenv("npm_config_registry", "")
	t.Setenv("NPM_CONFIG_REGISTRY", "")
	if got := registryFromEnv(); got != defaultRegistry {
		t.Errorf("default registry = %s", got)
	}
	t.Setenv("npm_config_registry", "https://mirror.example/npm")
	in := installer{bundle: linuxX64Bundle, registry: registryFromEnv()}
	if got, want := in.tarballURL(), "https://mirror.example/npm/onnxruntime-node/-/onnxruntime-node-"+Version+".tgz"; got != want {
		t.Errorf("tarball URL = %s, want %s", got, want)
	}
}

// TestSetupNoOpWithRealLibrary runs the exported Setup against a cache that
// already holds the real library (linked from wherever Locate finds it): it
// must verify the hash and return without npm or network.
func TestSetupNoOpWithRealLibrary(t *testing.T) {
	real, _, err := Locate("")
	if err != nil {
		t.Fatalf("tests need ONNX Runtime: %v\n(from the repository root: go run ./cmd/coop setup)", err)
	}
	if sum, err := fileSHA256(real); err != nil || sum != linuxX64Bundle.sha256 {
		t.Skipf("%s is not the onnxruntime-node %s build (sha256 %s); nothing to compare the no-op against", real, Version, sum)
	}
	cache := t.TempDir()
	t.Setenv(CacheEnv, cache)
	dest, _ := CachedLibraryPath()
	if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(real, dest); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("Setup contacted the registry: %s", r.URL)
	}))
	defer srv.Close()
	t.Setenv("npm_config_registry", srv.URL)
	t.Setenv("PATH", t.TempDir()) // no npm

	var log bytes.Buffer
	got, err := Setup(context.Background(), SetupOptions{Progress: &log})
	if err != nil {
		t.Fatal(err)
	}
	if got != dest {
		t.Errorf("Setup = %s, want %s", got, dest)
	}
	if !strings.Contains(log.String(), "already installed") {
		t.Errorf("progress %q", log.String())
	}
}

// TestInstallBundleWithMoreFiles: a bundle's further files (the CUDA
// build's provider libraries) are extracted from the same download, each
// checked, beside the library; an intact set needs no download, and a
// damaged further file brings the download back.
func TestInstallBundleWithMoreFiles(t *testing.T) {
	lib, shared := []byte("the core library"), []byte("the provider bridge")
	b := fakeBundle(lib)
	sum := sha256.Sum256(shared)
	b.also = []bundleFile{{member: "package/lib/libshared.so", sha256: hex.EncodeToString(sum[:]), name: "libshared.so"}}
	tarball := fakeTarball(t, map[string][]byte{b.member: lib, "package/README.md": []byte("between"), b.also[0].member: shared},
		b.also[0].member, "package/README.md", b.member)
	srv, hits := registry(t, b, tarball)
	dest := filepath.Join(t.TempDir(), "cuda", "libonnxruntime.so")
	in := installer{bundle: b, dest: dest, registry: srv.URL}
	if err := in.install(context.Background(), false); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string][]byte{dest: lib, filepath.Join(filepath.Dir(dest), "libshared.so"): shared} {
		if got, err := os.ReadFile(path); err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s holds %q (%v), want %q", path, got, err, want)
		}
	}
	if err := in.install(context.Background(), false); err != nil || hits.Load() != 1 {
		t.Errorf("second install: %v, %d requests in all, want 1", err, hits.Load())
	}
	if err := os.WriteFile(filepath.Join(filepath.Dir(dest), "libshared.so"), []byte("damaged"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := in.install(context.Background(), false); err != nil || hits.Load() != 2 {
		t.Errorf("install over a damaged further file: %v, %d requests in all, want 2", err, hits.Load())
	}

	// A tarball without a further file is refused, naming it.
	b.also[0].member = "package/lib/missing.so"
	srv, _ = registry(t, b, tarball)
	in = installer{bundle: b, dest: filepath.Join(t.TempDir(), "libonnxruntime.so"), registry: srv.URL}
	if err := in.install(context.Background(), false); err == nil || !strings.Contains(err.Error(), "has no package/lib/missing.so") {
		t.Errorf("tarball without a further file: %v", err)
	}
}
