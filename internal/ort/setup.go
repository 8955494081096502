package ort

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"strings"
)

// SetupOptions controls Setup.
type SetupOptions struct {
	// Force downloads the library again even when an intact copy is cached.
	Force bool
	// Progress receives one line per step (and download progress); nil
	// discards them.
	Progress io.Writer
	// HTTPClient fetches the package when npm is not used; nil means
	// http.DefaultClient.
	HTTPClient *http.Client
	// CUDA installs the CUDA build of ONNX Runtime CUDAVersion
	// (CachedCUDALibraryPath) instead of the CPU build.
	CUDA bool
}

// bundle says which files of which npm package Setup installs and what
// they must hash to. Tests substitute a fake one.
type bundle struct {
	pkg     string // npm package name
	version string
	member  string // path of the library inside the package tarball
	sha256  string // hex SHA-256 of the library
	// also are more files of the package, installed beside the library.
	also []bundleFile
}

// bundleFile is one more file of a bundle.
type bundleFile struct {
	member string // path inside the package tarball
	sha256 string
	name   string // file name beside the library
}

// linuxX64Bundle is the CPU build of ONNX Runtime for linux-x64 that the
// onnxruntime-node package ships (35164376 bytes; the whole tarball, about
// 86 MB, hashes to aa1bb5fa261ea68de05dd53efbba210cd7adf2d2850f4c3a201054c74cc78040).
var linuxX64Bundle = bundle{
	pkg:     "onnxruntime-node",
	version: Version,
	member:  "package/bin/napi-v6/linux/x64/libonnxruntime.so.1",
	sha256:  "92ba8e44d31b80a34f5e805076a044122c3be1fffe0d88ed790de7267b0b2682",
}

// The CUDA build of ONNX Runtime 1.29.0 for linux-x64 (SPEC section 6):
// the library and its provider bridge from one npm package, the CUDA
// execution provider (229 MB, linked against CUDA 13) from another. Its
// core has no CUDA: the provider loads as a plugin from beside the library
// (appendCUDA).
const (
	CUDAVersion    = "1.29.0"
	cudaPkgVersion = "0.4.9"
)

var cudaBundles = []bundle{{
	pkg:     "com.github.asus4.onnxruntime",
	version: cudaPkgVersion,
	member:  "package/Plugins/Linux/x64/libonnxruntime.so",
	sha256:  "5715f06d8992ca8eeeddcce43df3a7d38f97d537052126f558e912cb312460ca",
	also: []bundleFile{{
		member: "package/Plugins/Linux/x64/libonnxruntime_providers_shared.so",
		sha256: "086ec1d5388f64153d9c63470d126693db9a182c8ce236d3a1119068471b8a0d",
		name:   "libonnxruntime_providers_shared.so",
	}},
}, {
	pkg:     "com.github.asus4.onnxruntime.linux-x64-gpu",
	version: cudaPkgVersion,
	member:  "package/Plugins/Linux/x64/libonnxruntime_providers_cuda.so",
	sha256:  "56cf3254b118ad837ccc4ed8f6d1b23504bbf7ef91b34cbc0b289cb7f10b3037",
}}

// defaultRegistry is npm's public registry, used when $npm_config_registry is
// not set.
const defaultRegistry = "https://registry.npmjs.org/"

// Setup installs ONNX Runtime Version into the cache (CachedLibraryPath),
// or with opts.CUDA the CUDA build of CUDAVersion with its providers
// (CachedCUDALibraryPath), and returns the library's path. When an intact copy is already there it does
// nothing, without touching the network, unless opts.Force is set.
//
// The library comes from the npm package onnxruntime-node. When npm is on
// $PATH, Setup runs `npm pack` so that the user's npm configuration (registry,
// proxy, certificates) applies; otherwise, or when npm fails, it downloads the
// tarball from $npm_config_registry (default https://registry.npmjs.org/).
// Only the linux-x64 library is extracted from the tarball; its SHA-256 is
// checked before it is moved into place, so the cache never holds a partial or
// foreign file.
func Setup(ctx context.Context, opts SetupOptions) (string, error) {
	if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" {
		return "", fmt.Errorf("coop setup installs ONNX Runtime for linux/amd64 only; on %s/%s install ONNX Runtime %s yourself and pass --ort-lib or set $%s",
			runtime.GOOS, runtime.GOARCH, Version, LibraryEnv)
	}
	dest, err := CachedLibraryPath()
	bundles := []bundle{linuxX64Bundle}
	if opts.CUDA {
		dest, err = CachedCUDALibraryPath()
		bundles = cudaBundles
	}
	if err != nil {
		return "", err
	}
	npm, _ := exec.LookPath("npm")
	for i, b := range bundles {
		// The first bundle's library is the one to load, at dest; the
		// others go beside it under their own names.
		in := installer{
			bundle:   b,
			dest:     dest,
			npm:      npm,
			registry: registryFromEnv(),
			client:   opts.HTTPClient,
			progress: opts.Progress,
		}
		if i > 0 {
			in.dest = filepath.Join(filepath.Dir(dest), path.Base(b.member))
		}
		if err := in.install(ctx, opts.Force); err != nil {
			return "", err
		}
	}
	return dest, nil
}

// registryFromEnv returns the npm registry base URL with a trailing slash.
// npm reads its configuration from environment variables case-insensitively.
func registryFromEnv() string {
	for _, k := range []string{"npm_config_registry", "NPM_CONFIG_REGISTRY"} {
		if v := os.Getenv(k); v != "" {
			return v
		}
	}
	return defaultRegistry
}

// installer downloads one bundle into dest.
type installer struct {
	bundle   bundle
	dest     string
	npm      string // path of the npm executable; "" skips npm
	registry string
	client   *http.Client
	progress io.Writer
}

func (in *installer) logf(format string, args ...any) {
	if in.progress != nil {
		fmt.Fprintf(in.progress, format+"\n", args...)
	}
}

// install makes dest hold the bundle's library.
func (in *installer) install(ctx context.Context, force bool) error {
	if !force {
		intact := true
		for _, f := range in.files() {
			sum, err := fileSHA256(f.dest)
			switch {
			case err == nil && sum == f.sha256:
				continue
			case err == nil:
				in.logf("%s has sha256 %s, want %s: downloading it again", f.dest, sum, f.sha256)
			case !errors.Is(err, fs.ErrNotExist):
				return fmt.Errorf("checking the cached ONNX Runtime library: %w", err)
			}
			intact = false
		}
		if intact {
			in.logf("%s %s is already installed: %s", in.bundle.pkg, in.bundle.version, in.dest)
			return nil
		}
	}
	if err := os.MkdirAll(filepath.Dir(in.dest), 0o755); err != nil {
		return fmt.Errorf("creating the ONNX Runtime cache: %w", err)
	}
	var npmErr error
	if in.npm != "" {
		npmErr = in.installWithNpm(ctx)
		if npmErr == nil {
			return nil
		}
		var mismatch *hashMismatchError
		if errors.As(npmErr, &mismatch) || ctx.Err() != nil {
			return npmErr
		}
		in.logf("npm pack failed (%v); downloading from %s instead", npmErr, in.registry)
	}
	if err := in.installWithHTTP(ctx); err != nil {
		if npmErr != nil {
			return fmt.Errorf("%w (npm pack failed too: %v)", err, npmErr)
		}
		return err
	}
	return nil
}

// installWithNpm runs `npm pack` in a temporary directory and extracts the
// library from the tarball it writes.
func (in *installer) installWithNpm(ctx context.Context) error {
	tmp, err := os.MkdirTemp("", "coop-npm-pack-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	spec := in.bundle.pkg + "@" + in.bundle.version
	in.logf("running npm pack %s", spec)
	cmd := exec.CommandContext(ctx, in.npm, "pack", spec, "--pack-destination", tmp)
	cmd.Dir = tmp
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.Stdout = io.Discard
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("npm pack %s: %w: %s", spec, err, npmErrorText(stderr.String()))
	}
	tarballs, _ := filepath.Glob(filepath.Join(tmp, "*.tgz"))
	if len(tarballs) != 1 {
		return fmt.Errorf("npm pack %s wrote %d .tgz files in %s, want 1", spec, len(tarballs), tmp)
	}
	f, err := os.Open(tarballs[0])
	if err != nil {
		return err
	}
	defer f.Close()
	return in.extract(f, tarballs[0])
}

// tarballURL is where the npm registry serves the package tarball.
func (in *installer) tarballURL() string {
	base := in.registry
	if !strings.HasSuffix(base, "/") {
		base += "/"
	}
	name := in.bundle.pkg
	return base + name + "/-/" + name + "-" + in.bundle.version + ".tgz"
}

// installWithHTTP streams the tarball from the registry. Extraction stops at
// the library, so the rest of the download is skipped.
func (in *installer) installWithHTTP(ctx context.Context) error {
	url := in.tarballURL()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	client := in.client
	if client == nil {
		client = http.DefaultClient
	}
	in.logf("downloading %s", url)
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("downloading ONNX Runtime: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("downloading ONNX Runtime: GET %s: %s", url, resp.Status)
	}
	body := &progressReader{r: resp.Body, total: resp.ContentLength, logf: in.logf, step: 16 << 20, next: 16 << 20}
	return in.extract(body, url)
}

// installedFile is one file of the bundle and where it goes.
type installedFile struct {
	member, sha256, dest string
}

// files lists the bundle's files: the library at dest, the others beside
// it.
func (in *installer) files() []installedFile {
	out := []installedFile{{in.bundle.member, in.bundle.sha256, in.dest}}
	for _, f := range in.bundle.also {
		out = append(out, installedFile{f.member, f.sha256, filepath.Join(filepath.Dir(in.dest), f.name)})
	}
	return out
}

// extract reads a gzip'd tar stream from origin, writes each of the
// bundle's files to a temporary file beside its destination while hashing
// it, and renames it into place only when the hash matches. It stops
// reading once it has them all.
func (in *installer) extract(r io.Reader, origin string) error {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return fmt.Errorf("reading %s: not a gzip'd tarball: %w", origin, err)
	}
	defer zr.Close()
	want := map[string]installedFile{}
	for _, f := range in.files() {
		want[f.member] = f
	}
	tr := tar.NewReader(zr)
	for len(want) > 0 {
		hdr, err := tr.Next()
		if err == io.EOF {
			for _, f := range in.files() {
				if _, missing := want[f.member]; missing {
					return fmt.Errorf("%s has no %s", origin, f.member)
				}
			}
		}
		if err != nil {
			return fmt.Errorf("reading %s: %w", origin, err)
		}
		f, ok := want[hdr.Name]
		if !ok || hdr.Typeflag != tar.TypeReg {
			continue
		}
		in.logf("extracting %s (%d bytes)", hdr.Name, hdr.Size)
		if err := in.writeVerified(tr, origin, f); err != nil {
			return err
		}
		delete(want, hdr.Name)
	}
	return nil
}

// writeVerified copies r to f.dest atomically, checking the SHA-256.
func (in *installer) writeVerified(r io.Reader, origin string, f installedFile) (err error) {
	tmp, err := os.CreateTemp(filepath.Dir(f.dest), "."+filepath.Base(f.dest)+".*.tmp")
	if err != nil {
		return fmt.Errorf("writing the ONNX Runtime library: %w", err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(tmp, h), r); err != nil {
		return fmt.Errorf("extracting %s from %s: %w", f.member, origin, err)
	}
	if sum := hex.EncodeToString(h.Sum(nil)); sum != f.sha256 {
		return &hashMismatchError{file: f.member, origin: origin, got: sum, want: f.sha256}
	}
	if err := tmp.Chmod(0o755); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), f.dest); err != nil {
		return err
	}
	in.logf("installed %s: %s", path.Base(f.member), f.dest)
	return nil
}

// hashMismatchError reports a downloaded library that is not the expected
// build; retrying another source would not help, so install stops on it.
type hashMismatchError struct {
	file, origin, got, want string
}

func (e *hashMismatchError) Error() string {
	return fmt.Sprintf("%s from %s has sha256 %s, want %s", e.file, e.origin, e.got, e.want)
}

// fileSHA256 returns the hex SHA-256 of a file's contents.
func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// progressReader reports every step bytes read.
type progressReader struct {
	r          io.Reader
	n          int64
	total      int64 // -1 when unknown
	step, next int64
	logf       func(string, ...any)
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.n += int64(n)
	if p.n >= p.next {
		if p.total > 0 {
			p.logf("  %d of %d MB", p.n>>20, p.total>>20)
		} else {
			p.logf("  %d MB", p.n>>20)
		}
		p.next += p.step
	}
	return n, err
}

// npmErrorText picks npm's error lines out of its stderr, which also carries
// warnings unrelated to the failure; without error lines it returns the last
// line.
func npmErrorText(stderr string) string {
	var errs []string
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	for _, l := range lines {
		if strings.HasPrefix(l, "npm error") || strings.HasPrefix(l, "npm ERR!") {
			errs = append(errs, strings.TrimSpace(l))
		}
	}
	if len(errs) == 0 {
		return lines[len(lines)-1]
	}
	return strings.Join(errs, "; ")
}
