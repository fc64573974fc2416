package api

import (
	"embed"
	"io/fs"
	"net/http"
)

// uiFiles is the live view: HTML, CSS and JavaScript modules written for
// it, served as they are. Nothing is fetched from elsewhere at run time.
//
//go:embed ui
var uiFiles embed.FS

// uiCSP keeps the page to its own files and its own API: no inline
// script, no other origin.
const uiCSP = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; " +
	"connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'none'"

// uiRoutes serves the live view at /ui/ (and redirects /ui there).
func (h *Handler) uiRoutes() {
	sub, _ := fs.Sub(uiFiles, "ui") // "ui" is embedded: cannot fail
	files := http.StripPrefix("/ui/", http.FileServerFS(sub))
	h.mux.Handle("GET /ui/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hdr := w.Header()
		hdr.Set("Content-Security-Policy", uiCSP)
		hdr.Set("X-Content-Type-Options", "nosniff")
		hdr.Set("Referrer-Policy", "no-referrer")
		hdr.Set("Cache-Control", "no-cache")
		files.ServeHTTP(w, r)
	}))
	h.mux.Handle("GET /ui", http.RedirectHandler("/ui/", http.StatusMovedPermanently))
}
