// Package static serves Argo's web UI. pixelgate's tools/testcluster/argo-ui/build.sh puts this
// file in place of the module's stub server/static/files.go ("File built without static
// files"), next to dist/, the webpack build of the module's ui/. It has the stub's API (the API
// of the bou.ke/staticfiles file upstream generates): ServeHTTP and Hash.
package static

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
)

//go:embed all:dist
var dist embed.FS

type file struct {
	data []byte
	etag string
}

// files: path under dist/ (no leading slash, as the server asks for it) -> content and hash.
var files = func() map[string]file {
	out := map[string]file{}
	err := fs.WalkDir(dist, "dist", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := dist.ReadFile(name)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(data)
		out[strings.TrimPrefix(name, "dist/")] = file{data, hex.EncodeToString(sum[:12])}
		return nil
	})
	if err != nil || out["index.html"].data == nil {
		panic("server/static: the embedded UI has no dist/index.html")
	}
	return out
}()

// Hash is the content hash of the UI file at name, "" when there is none: the files server
// answers every other path with index.html (the UI's own routes).
func Hash(name string) string { return files[path.Clean(strings.TrimPrefix(name, "/"))].etag }

// ServeHTTP writes the UI file at the request's path, or 404.
func ServeHTTP(w http.ResponseWriter, r *http.Request) {
	name := path.Clean(strings.TrimPrefix(r.URL.Path, "/"))
	f, ok := files[name]
	if !ok {
		http.NotFound(w, r)
		return
	}
	etag := `"` + f.etag + `"`
	h := w.Header()
	h.Set("ETag", etag)
	ctype := mime.TypeByExtension(path.Ext(name))
	if ctype == "" {
		ctype = http.DetectContentType(f.data)
	}
	h.Set("Content-Type", ctype)
	if r.Header.Get("If-None-Match") == etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	// No WriteHeader before Write: the caller's rewriter of index.html (its <base href>) sets
	// Content-Length in Write, which must still reach the response's headers.
	_, _ = w.Write(f.data)
}
