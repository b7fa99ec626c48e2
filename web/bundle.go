package web

import (
	"bytes"
	"fmt"
	"path"
	"regexp"
	"strings"
)

// The page modules follow a small, checked subset of ES module syntax:
// `import { a, b as c } from '/static/x.js';` on a line of its own, and
// `export function|async function|const|class name` declarations. That is
// enough to know each page's import graph (for modulepreload links) and to
// fold a page's modules into one inline script for a first visit, without
// a bundler. A module outside the subset is not inlined (the page is then
// served as separate files) and the web tests fail.
var (
	importRe      = regexp.MustCompile(`(?m)^import\s*\{([^}]*)\}\s*from\s*'/static/([\w.-]+\.js)';?[ \t]*$`)
	anyImportRe   = regexp.MustCompile(`(?m)^\s*import\b|\bimport\s*\(|\bimport\.meta\b`)
	exportDeclRe  = regexp.MustCompile(`(?m)^export\s+(?:async\s+)?(?:function\*?|const|class)\s+([A-Za-z_$][\w$]*)`)
	anyExportRe   = regexp.MustCompile(`(?m)^\s*export\b`)
	moduleTagRe   = regexp.MustCompile(`<script type="module" src="/static/([\w.-]+\.js)"></script>\n?`)
	inlineModRe   = regexp.MustCompile(`<script type="module">`)
	preloadTagRe  = regexp.MustCompile(`<link rel="modulepreload" href="/static/([\w.-]+\.js)">`)
	stylesheetRe  = regexp.MustCompile(`<link rel="stylesheet" href="/static/([\w.-]+\.css)">`)
	identifierRe  = regexp.MustCompile(`^[A-Za-z_$][\w$]*$`)
	closingTagsRe = regexp.MustCompile(`(?i)</script|</style|<!--`)
)

// module is one parsed page module.
type module struct {
	name    string
	imports []modImport
	exports []string
	body    string // the source with its import lines removed and `export ` dropped
}

type modImport struct {
	from  string   // file name under static/
	names []string // "a" or "a: c" (destructuring form of `a as c`)
}

// parseModule checks that src stays inside the subset and splits it.
func parseModule(name, src string) (*module, error) {
	m := &module{name: name}
	body := importRe.ReplaceAllStringFunc(src, func(line string) string {
		sub := importRe.FindStringSubmatch(line)
		imp := modImport{from: sub[2]}
		for _, part := range strings.Split(sub[1], ",") {
			part = strings.TrimSpace(part)
			if part == "" {
				continue
			}
			orig, alias, renamed := strings.Cut(part, " as ")
			orig, alias = strings.TrimSpace(orig), strings.TrimSpace(alias)
			if !identifierRe.MatchString(orig) || (renamed && !identifierRe.MatchString(alias)) {
				imp.names = append(imp.names, "\x00") // flagged below
				continue
			}
			if renamed {
				imp.names = append(imp.names, orig+": "+alias)
			} else {
				imp.names = append(imp.names, orig)
			}
		}
		m.imports = append(m.imports, imp)
		return ""
	})
	for _, imp := range m.imports {
		for _, n := range imp.names {
			if n == "\x00" {
				return nil, fmt.Errorf("%s: unsupported import list from %s", name, imp.from)
			}
		}
	}
	if loc := anyImportRe.FindStringIndex(body); loc != nil {
		return nil, fmt.Errorf("%s: unsupported import form near %q", name, snippet(body, loc[0]))
	}
	for _, sub := range exportDeclRe.FindAllStringSubmatch(body, -1) {
		m.exports = append(m.exports, sub[1])
	}
	body = exportDeclRe.ReplaceAllStringFunc(body, func(s string) string { return strings.TrimPrefix(s, "export ") })
	if loc := anyExportRe.FindStringIndex(body); loc != nil {
		return nil, fmt.Errorf("%s: unsupported export form near %q", name, snippet(body, loc[0]))
	}
	m.body = body
	return m, nil
}

func snippet(s string, at int) string {
	end := min(len(s), at+40)
	return s[at:end]
}

// graph is every module of static/, parsed; broken holds the modules
// outside the subset (with why).
type graph struct {
	mods   map[string]*module
	broken map[string]error
}

func parseGraph(raw map[string][]byte) *graph {
	g := &graph{mods: map[string]*module{}, broken: map[string]error{}}
	for name, data := range raw {
		if path.Ext(name) != ".js" {
			continue
		}
		m, err := parseModule(name, string(data))
		if err != nil {
			g.broken[name] = err
			continue
		}
		g.mods[name] = m
	}
	return g
}

// order returns the modules the entries need, dependencies first, each once.
func (g *graph) order(entries []string) ([]string, error) {
	var out []string
	state := map[string]int{} // 1: visiting, 2: done
	var visit func(n string) error
	visit = func(n string) error {
		switch state[n] {
		case 1:
			return fmt.Errorf("import cycle through %s", n)
		case 2:
			return nil
		}
		m, ok := g.mods[n]
		if !ok {
			if err := g.broken[n]; err != nil {
				return err
			}
			return fmt.Errorf("module %s not found", n)
		}
		state[n] = 1
		for _, imp := range m.imports {
			if err := visit(imp.from); err != nil {
				return err
			}
		}
		state[n] = 2
		out = append(out, n)
		return nil
	}
	for _, e := range entries {
		if err := visit(e); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// pageModules lists the modules a page's HTML starts: external module
// scripts and the imports of inline module scripts.
func pageModules(html string) (entries, inlineImports []string, hasInline bool) {
	for _, sub := range moduleTagRe.FindAllStringSubmatch(html, -1) {
		entries = append(entries, sub[1])
	}
	for _, loc := range inlineModRe.FindAllStringIndex(html, -1) {
		hasInline = true
		rest := html[loc[1]:]
		if end := strings.Index(rest, "</script>"); end >= 0 {
			for _, sub := range importRe.FindAllStringSubmatch(strings.ReplaceAll(rest[:end], "; ", ";\n"), -1) {
				inlineImports = append(inlineImports, sub[2])
			}
		}
	}
	return entries, inlineImports, hasInline
}

// withPreloads adds a <link rel="modulepreload"> for every module a page
// imports (at any depth) that the page does not link already, so the
// browser fetches the whole graph in one round trip instead of one per
// level of imports.
func withPreloads(g *graph, html string) (string, error) {
	entries, inl, _ := pageModules(html)
	all, err := g.order(append(entries, inl...))
	if err != nil {
		return html, err
	}
	have := map[string]bool{}
	for _, e := range entries {
		have[e] = true // fetched by their script tags
	}
	for _, sub := range preloadTagRe.FindAllStringSubmatch(html, -1) {
		have[sub[1]] = true
	}
	var links strings.Builder
	for _, n := range all {
		if !have[n] {
			fmt.Fprintf(&links, `<link rel="modulepreload" href="/static/%s">`, n)
		}
	}
	if links.Len() == 0 {
		return html, nil
	}
	i := strings.Index(html, "</head>")
	if i < 0 {
		return html, fmt.Errorf("no </head>")
	}
	return html[:i] + links.String() + "\n" + html[i:], nil
}

// inlined is the first-visit form of a page: its stylesheet and every
// module it runs folded into the HTML, so a phone on a slow link needs one
// round trip before the page works instead of two. Each module becomes a
// function scope returning its exports, evaluated once, dependencies
// first, inside one inline module script (still strict and deferred like
// the separate modules). After load it prefetches the separate files
// (immutable for a year) into the HTTP cache, so the next visit can use
// the small HTML.
func inlined(g *graph, raw map[string][]byte, html string) (string, error) {
	entries, _, hasInline := pageModules(html)
	if hasInline || len(entries) == 0 {
		return "", fmt.Errorf("page has inline module scripts or none")
	}
	all, err := g.order(entries)
	if err != nil {
		return "", err
	}
	var js strings.Builder
	js.WriteString("<script type=\"module\">\n")
	varName := func(n string) string {
		return "$jh_" + strings.NewReplacer(".", "_", "-", "_").Replace(strings.TrimSuffix(n, ".js"))
	}
	for _, n := range all {
		m := g.mods[n]
		isEntry := false
		for _, e := range entries {
			isEntry = isEntry || e == n
		}
		if isEntry && len(m.exports) == 0 {
			js.WriteString("(() => {\n")
		} else {
			fmt.Fprintf(&js, "const %s = (() => {\n", varName(n))
		}
		for _, imp := range m.imports {
			fmt.Fprintf(&js, "const { %s } = %s;\n", strings.Join(imp.names, ", "), varName(imp.from))
		}
		js.WriteString(m.body)
		if len(m.exports) > 0 {
			fmt.Fprintf(&js, "\nreturn { %s };\n", strings.Join(m.exports, ", "))
		}
		js.WriteString("\n})();\n")
	}
	// Warm the cache for the next visit once this one is done.
	var urls []string
	for _, n := range all {
		urls = append(urls, "'/static/"+n+"'")
	}
	styles := stylesheetRe.FindAllStringSubmatch(html, -1)
	for _, s := range styles {
		urls = append(urls, "'/static/"+s[1]+"'")
	}
	// fetch, not <link rel=prefetch>: Safari has no prefetch; a same-origin
	// fetch is cached like the module request that will reuse it.
	fmt.Fprintf(&js, "addEventListener('load', () => setTimeout(() => { for (const u of [%s]) fetch(u).then((r) => r.arrayBuffer()).catch(() => {}); }, 2000));\n", strings.Join(urls, ", "))
	js.WriteString("</script>\n")
	body := js.String()
	if closingTagsRe.MatchString(strings.TrimSuffix(strings.TrimPrefix(body, "<script type=\"module\">"), "</script>\n")) {
		return "", fmt.Errorf("a module contains </script, </style or <!--")
	}

	out := html
	for _, s := range styles {
		css, ok := raw[s[1]]
		if !ok {
			return "", fmt.Errorf("stylesheet %s not found", s[1])
		}
		if closingTagsRe.Match(css) {
			return "", fmt.Errorf("%s contains </style", s[1])
		}
		out = strings.Replace(out, s[0], "<style>\n"+string(bytes.TrimSpace(css))+"\n</style>", 1)
	}
	out = preloadTagRe.ReplaceAllString(out, "")
	first := true
	out = moduleTagRe.ReplaceAllStringFunc(out, func(string) string {
		if first {
			first = false
			return body
		}
		return ""
	})
	return out, nil
}
