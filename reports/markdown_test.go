package reports

import (
	"bytes"
	"context"
	"html"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

// hostile are user-supplied strings that Markdown or HTML would read as
// markup: tags, emphasis, code, links, images, strikethrough, math, table
// pipes, entities, and block markers at the start of a line.
var hostile = []string{
	`<script>alert(1)</script>`,
	`<img src=x onerror=alert(2)>`,
	`**bold** and _under_ and *star*`,
	"`code` and ~~strike~~",
	`[link](http://evil.example/) and ![img](http://evil.example/i.png)`,
	`pipe | in a cell`,
	`&lt;already&gt; &amp; entity`,
	`$x^2$ math`,
	`back\slash \*`,
	`<!-- comment -->`,
}

// hostileReport plants the strings in every user-supplied field.
func hostileReport() *Report {
	r := sampleReport("")
	r.Plan = "# plan " + hostile[0]
	r.Description = "1. " + hostile[1] + " " + hostile[2]
	for i := range r.Steps {
		r.Steps[i].Name = hostile[i%len(hostile)]
		r.Steps[i].Error = "- " + hostile[(i+3)%len(hostile)]
		r.Steps[i].Target = hostile[(i+5)%len(hostile)]
	}
	r.Outages[0].Cause = hostile[4]
	r.Services[0].Name = hostile[5]
	r.Capabilities.Notes = append(r.Capabilities.Notes, "+ "+hostile[6], "[x]: http://evil.example/ "+hostile[7])
	r.Alerts[1].Name = hostile[8]
	r.Rollouts[0].Evidence = []string{hostile[9]}
	r.VerdictReason = "= " + hostile[3]
	return r
}

// TestMarkdownEscapesUserStrings renders report.md with GitHub's own
// Markdown renderer (cmark-gfm, tables and strikethrough on, raw HTML
// passed through as GitHub's unsafe mode does) and checks that no user
// string became markup and that every one reads back verbatim as text.
func TestMarkdownEscapesUserStrings(t *testing.T) {
	bin, err := exec.LookPath("cmark-gfm")
	if err != nil {
		t.Skip("cmark-gfm not installed (Debian package cmark-gfm; `make deps` installs it): report.md not rendered")
	}
	md, err := Markdown(hostileReport())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--unsafe", "-e", "table", "-e", "strikethrough", "-e", "autolink", "-e", "tagfilter")
	cmd.Stdin = bytes.NewReader(md)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("cmark-gfm: %v", err)
	}
	page := string(out)
	for _, bad := range []string{"<script", "<img", "<em>", "<code>", "<del>", "<!--", "<ol", "<h2>plan", `<span class="math`} {
		if strings.Contains(page, bad) {
			t.Errorf("a user string became markup: rendered report.md holds %q", bad)
		}
	}
	// Bold is the report's own: the verdict, the grade, the five parts of the summary.
	if n := strings.Count(page, "<strong>"); n != 7 {
		t.Errorf("%d <strong>, want the report's own 7", n)
	}
	// A bare URL may become a link, as on GitHub, but only one that shows
	// where it goes: never link text hiding another target.
	for _, m := range regexp.MustCompile(`<a href="([^"]*)">([^<]*)</a>`).FindAllStringSubmatch(page, -1) {
		if html.UnescapeString(m[1]) != html.UnescapeString(m[2]) {
			t.Errorf("a link shows %q but goes to %q", m[2], m[1])
		}
	}
	if strings.Count(page, "<a ") != len(regexp.MustCompile(`<a href="[^"]*">[^<]*</a>`).FindAllString(page, -1)) {
		t.Error("a link of another shape")
	}
	if n := strings.Count(page, "<h1>"); n != 1 {
		t.Errorf("%d <h1> headings, want the title only", n)
	}
	text := html.UnescapeString(regexp.MustCompile(`<[^>]*>`).ReplaceAllString(page, ""))
	for _, s := range hostile {
		if !strings.Contains(text, s) {
			t.Errorf("%q does not read back as text", s)
		}
	}
	// Every row of the steps table keeps its nine cells: no pipe split one.
	steps := page[strings.Index(page, "<h2>Steps</h2>"):]
	steps = steps[:strings.Index(steps, "</table>")]
	for i, row := range strings.Split(steps, "<tr>")[2:] {
		if n := strings.Count(row, "<td"); n != len(stepHeader) {
			t.Errorf("steps row %d has %d cells, want %d", i, n, len(stepHeader))
		}
	}
}

func TestMdEsc(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"latency_p95", "latency_p95"},
		{"_x_", `\_x\_`},
		{"a|b", `a\|b`},
		{"<b>&", "&lt;b&gt;&amp;"},
		{"line\nbreak", "line break"},
		{"key [REDACTED] here", "key [REDACTED] here"},
		{"[REDACTED](http://x)", `[REDACTED]\(http://x)`},
		{"[x]", `\[x\]`},
	} {
		if got := mdEsc(c.in); got != c.want {
			t.Errorf("mdEsc(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	for _, c := range []struct{ in, want string }{
		{"- item", `\- item`},
		{"12. item", `12\. item`},
		{"= underline", `\= underline`},
		{"[id]: http://x", `\[id\]: http://x`},
		{"plain", "plain"},
	} {
		if got := mdPara(c.in); got != c.want {
			t.Errorf("mdPara(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
