package redact

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"html"
	htmltemplate "html/template"
	"net/url"
	"strings"
	"testing"
)

// canary is a known secret planted in the tests.
const canary = "canary-7f3a<&>'\"+/ key"

func TestPatterns(t *testing.T) {
	for _, c := range []struct{ name, in, want string }{
		{"url userinfo and query", "https://user:p4ss@host:80/x?key=abc&x=1&api_key=zzz#f",
			"https://user:[REDACTED]@host:80/x?key=[REDACTED]&x=1&api_key=[REDACTED]#f"},
		{"password holding @", "postgres://u:p@ss@h:5432/db", "postgres://u:[REDACTED]@h:5432/db"},
		{"user alone is kept", "https://deploy@git.example/x", "https://deploy@git.example/x"},
		{"quoted URL in an error", `Get "http://a:b1@h/?token=t1": dial tcp: refused`, `Get "http://a:[REDACTED]@h/?token=[REDACTED]": dial tcp: refused`},
		{"signed URL", "https://b.s3/x?X-Amz-Signature=abc&X-Amz-Credential=AK%2F1&sig=zz&se=1", "https://b.s3/x?X-Amz-Signature=[REDACTED]&X-Amz-Credential=[REDACTED]&sig=[REDACTED]&se=1"},
		{"slog text", `level=INFO msg="start" plan=p api_key=sk-abc token="a b" first_token=12ms pass=true max_tokens=16`,
			`level=INFO msg="start" plan=p api_key=[REDACTED] token="[REDACTED]" first_token=12ms pass=true max_tokens=16`},
		{"environment", "AWS_SECRET_ACCESS_KEY=abc GITHUB_TOKEN=ghp_x DB_PASSWORD=pw SSH_AUTH_SOCK=/tmp/a HOME=/root",
			"AWS_SECRET_ACCESS_KEY=[REDACTED] GITHUB_TOKEN=[REDACTED] DB_PASSWORD=[REDACTED] SSH_AUTH_SOCK=/tmp/a HOME=/root"},
		{"bearer header", "Authorization: Bearer abc.def.ghi", "Authorization: Bearer [REDACTED]"},
		{"basic header", "authorization: Basic dXNlcjpwdw==, next", "authorization: Basic [REDACTED], next"},
		{"api key header", "X-Api-Key: abc123\nX-Other: 1", "X-Api-Key: [REDACTED]\nX-Other: 1"},
		{"bearer anywhere", "curl -H 'x: Bearer 0a1b2c' url", "curl -H 'x: Bearer [REDACTED]' url"},
		{"bearer in prose", "the bearer of bad news", "the bearer of bad news"},
		{"json", `{"api_key": "v1", "password":"v\"2", "name": "x", "key_id": "k"}`, `{"api_key": "[REDACTED]", "password":"[REDACTED]", "name": "x", "key_id": "k"}`},
		{"json in json", `{\"token\":\"abc\"}`, `{\"token\":\"[REDACTED]\"}`},
		{"html entities", "token=&#34;abc&#34; key=&quot;x&quot; a=1", "token=&#34;[REDACTED]&#34; key=&quot;[REDACTED]&quot; a=1"},
		{"html escaped query", "/x?a=1&amp;key=abc&amp;b=2", "/x?a=1&amp;key=[REDACTED]&amp;b=2"},
		{"go map", "map[api_key:abc other:1]", "map[api_key:[REDACTED] other:1]"},
		{"http header map", "map[Authorization:[Bearer xyz123]]", "map[Authorization:[Bearer [REDACTED]]]"},
		{"yaml", "services:\n  gateway:\n    env:\n      MASTER_KEY: sk1\n      password: 'p w'\n", "services:\n  gateway:\n    env:\n      MASTER_KEY: [REDACTED]\n      password: '[REDACTED]'\n"},
		{"sk keys", "sk-aiuptime-TEST-0123456789abcdef, disk-wipe, task-sk-9876, sk-learn, sk-1234.", "[REDACTED], disk-wipe, task-[REDACTED], sk-learn, [REDACTED]."},
		{"error path keeps its message", "plan.yaml:3:5: steps[0].params.api_key: unknown parameter", "plan.yaml:3:5: steps[0].params.api_key: unknown parameter"},
		{"prose key", "unknown key: foo", "unknown key: foo"},
		{"names of variables", "api_key_env: environment variable X is not set", "api_key_env: environment variable X is not set"},
		{"already masked", "key=[REDACTED] x: Bearer [REDACTED]", "key=[REDACTED] x: Bearer [REDACTED]"},
		{"times and ports", "12:30:01 host:80 key:", "12:30:01 host:80 key:"},
		{"html attributes", `<meta name="viewport" content="width=device-width, initial-scale=1">`, `<meta name="viewport" content="width=device-width, initial-scale=1">`},
		{"empty values", "key= token=\"\" x", "key= token=\"\" x"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := New().String(c.in); got != c.want {
				t.Errorf("String(%q)\n got %q\nwant %q", c.in, got, c.want)
			}
			var nilR *Redactor
			if got := nilR.String(c.in); got != c.want {
				t.Errorf("nil Redactor: got %q", got)
			}
		})
	}
}

func TestIsSecretName(t *testing.T) {
	for name, want := range map[string]bool{
		"api_key": true, "API_KEY": true, "apiKey": true, "APIKey": true, "X-Api-Key": true, "xapikey": true,
		"AWS_SECRET_ACCESS_KEY": true, "GITHUB_TOKEN": true, "accessToken": true, "password": true, "DB_PASSWD": true,
		"Authorization": true, "Cookie": true, "client_secret": true, "X-Amz-Signature": true, "credentials": true,
		"key": true, "sig": true, "auth": true, "HF_TOKEN": true, "LITELLM_MASTER_KEY": true,
		"api_key_env": false, "key_id": false, "token_count": false, "max_tokens": false, "first_token": false,
		"password_file": false, "monkey": false, "keyboard": false, "signal": false, "author": false,
		"SSH_AUTH_SOCK": false, "HOME": false, "pass": false, "tokens": false, "": false,
	} {
		if got := IsSecretName(name); got != want {
			t.Errorf("IsSecretName(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestKnownValuesInEveryForm(t *testing.T) {
	r := New(canary)
	var xb bytes.Buffer
	_ = xml.EscapeText(&xb, []byte(canary))
	jb, _ := json.Marshal(canary)
	var tb bytes.Buffer
	if err := htmltemplate.Must(htmltemplate.New("").Parse("<p>{{.}}</p>")).Execute(&tb, canary); err != nil {
		t.Fatal(err)
	}
	for name, form := range map[string]string{
		"html/template executed": strings.TrimSuffix(strings.TrimPrefix(tb.String(), "<p>"), "</p>"),
		"raw":                    canary, "json": string(jb[1 : len(jb)-1]), "html": html.EscapeString(canary),
		"html &quot;": strings.ReplaceAll(html.EscapeString(canary), "&#34;", "&quot;"), "html/template": "canary-7f3a&lt;&amp;&gt;&#39;&#34;&#43;/ key",
		"xml": xb.String(), "query": url.QueryEscape(canary), "path": url.PathEscape(canary),
	} {
		in := "before " + form + " after"
		got := r.String(in)
		if got != "before "+Mask+" after" {
			t.Errorf("%s form %q: got %q", name, form, got)
		}
	}
}

func TestAddIgnoresShortValuesAndTrims(t *testing.T) {
	r := New("", "true", "admin12", "  long-enough-secret\n")
	if r.Len() != 2 {
		t.Errorf("Len = %d, want 2 (the value with its white space, and trimmed)", r.Len())
	}
	const text = "admin12 is true; long-enough-secret"
	if got := r.String(text); got != "admin12 is true; "+Mask {
		t.Errorf("got %q", got)
	}
}

func TestAddEnvAndLearn(t *testing.T) {
	r := New()
	r.AddEnv([]string{"HOME=/root", "MY_SERVICE_TOKEN=tok-abcdefgh", "DATABASE_URL=postgres://u:dbpass99@h/db", "PATH=/usr/bin"})
	r.Learn("https://h/x?key=learned-from-url")
	r.AddNamed("X-Api-Key", "named-secret-1")
	r.AddNamed("model", "not-a-secret-1")
	in := "tok-abcdefgh dbpass99 learned-from-url named-secret-1 not-a-secret-1 /root /usr/bin"
	want := "[REDACTED] [REDACTED] [REDACTED] [REDACTED] not-a-secret-1 /root /usr/bin"
	if got := r.String(in); got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}

// TestWorkingDirIsNoSecret: PWD ends in "pwd" but holds the working
// directory; masking it masked every path under it.
func TestWorkingDirIsNoSecret(t *testing.T) {
	r := New()
	r.AddEnv([]string{"PWD=/work/main", "OLDPWD=/home/someone", "DB_PWD=hunter2-secret"})
	in := "report: /work/main/reports/out/report.html, before /home/someone, db hunter2-secret"
	want := "report: /work/main/reports/out/report.html, before /home/someone, db " + Mask
	if got := r.String(in); got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}

// TestMaskingIsIdempotent: text masked again (a report re-rendered, a
// masked log line written through a masked writer) stays as it was.
func TestMaskingIsIdempotent(t *testing.T) {
	r := New("known-secret-value")
	for _, in := range []string{
		"Authorization: Bearer abc-123-token and more",
		`{"authorization": "Bearer abc-123-token"}`,
		"X-Api-Key: key-9876 token=abc-123 https://u:pw-1234@h/?sig=s1g known-secret-value sk-0123456789abcdefghij",
	} {
		once := r.String(in)
		if twice := r.String(once); twice != once {
			t.Errorf("masking %q again changed it:\n once %q\ntwice %q", in, once, twice)
		}
	}
}

func TestBytesUnchangedIsSame(t *testing.T) {
	b := []byte("nothing to hide here")
	if got := New("some-secret").Bytes(b); &got[0] != &b[0] {
		t.Error("Bytes copied a slice with nothing to mask")
	}
	if got := string(New("some-secret").Bytes([]byte("x some-secret y"))); got != "x [REDACTED] y" {
		t.Errorf("got %q", got)
	}
}

// FuzzString checks that a known secret never survives, whatever surrounds
// it, and that masking never panics.
func FuzzString(f *testing.F) {
	for _, s := range []string{"", "a=b", "https://u:p@h/?key=v", "Bearer x", `"token": "`, "sk-", "\\\"", "&#34;", "key=&quot;"} {
		f.Add(s, "fuzz-secret-1")
	}
	f.Fuzz(func(t *testing.T, around, secret string) {
		if len(secret) < MinSecretLen || strings.Contains(secret, "[") || strings.Contains(Mask, secret) {
			return
		}
		r := New(secret)
		in := around + secret + around
		if out := r.String(in); strings.Contains(out, secret) {
			t.Fatalf("secret %q survives in %q -> %q", secret, in, out)
		}
	})
}

// TestQuotesThatClose checks that a quote right after NAME= or NAME: that
// closes the string holding them is not taken for an opening one, which
// would mask (and break) the JSON around it.
func TestQuotesThatClose(t *testing.T) {
	for _, in := range []string{
		"{\n  \"url\": \"http://h/?key=\",\n  \"image\": \"x\"\n}",
		`{"url":"http://h/?key=","image":"x"}`,
		`{"note": "the token:", "x": 1}`,
		`{\"u\":\"h?key=\",\"b\":1}`,
		`"h?key=" }`,
	} {
		if got := New().String(in); got != in {
			t.Errorf("String(%q) = %q", in, got)
		}
	}
}

// FuzzStructureSurvives checks that masking never breaks the JSON or XML
// that carries a text: masks replace values, never quotes or brackets.
func FuzzStructureSurvives(f *testing.F) {
	for _, s := range []string{"https://u:p@h/?key=", `token="x`, "api_key: ", "Bearer ", `key=\"`, "x&#34;key=&#34;", "sk-0000"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r := New("fuzz-known-secret")
		j, _ := json.Marshal(map[string]any{"a": s, "b": []string{s, "x" + s}})
		if out := r.Bytes(j); !json.Valid(out) {
			t.Fatalf("JSON broken:\n in %s\nout %s", j, out)
		}
		type el struct {
			A    string `xml:"a,attr"`
			Text string `xml:",chardata"`
		}
		x, err := xml.Marshal(el{A: s, Text: s})
		if err != nil {
			return
		}
		var back el
		if out := r.Bytes(x); xml.Unmarshal(out, &back) != nil {
			t.Fatalf("XML broken:\n in %s\nout %s", x, out)
		}
	})
}

func TestLearnValue(t *testing.T) {
	type service struct {
		Image string            `yaml:"image"`
		Args  []string          `yaml:"args"`
		Env   map[string]string `yaml:"env"`
	}
	type file struct {
		Services  map[string]service `yaml:"services"`
		URL       string             `yaml:"url"`
		APIKeyEnv string             `yaml:"api_key_env"`
		Password  string             `yaml:"-"`
		Params    map[string]any
		Nested    *file
		KeySecret *struct {
			Name string `yaml:"name"`
		} `yaml:"api_key_secret" redact:"ref"`
	}
	f := file{
		Services: map[string]service{"gateway": {Image: "img:1", Args: []string{"--port", "4000", "--api-key", "arg-secret-1", "--token=flag-secret-2"},
			Env: map[string]string{"LITELLM_MASTER_KEY": "env-secret-3", "LOG_LEVEL": "debug-level"}}},
		URL:       "https://u:url-secret-4@h/?sig=url-secret-5",
		APIKeyEnv: "MY_KEY_VARIABLE",
		Password:  "field-secret-6",
		Params:    map[string]any{"headers": map[string]any{"Authorization": "Bearer hdr-secret-7"}, "list": []any{"--password", "list-secret-8"}},
		Nested:    &file{Params: map[string]any{"client_secret": "nested-secret-9"}},
		KeySecret: &struct {
			Name string `yaml:"name"`
		}{Name: "gateway-keys"},
	}
	r := New()
	r.LearnValue(f)
	for _, s := range []string{"arg-secret-1", "flag-secret-2", "env-secret-3", "url-secret-4", "url-secret-5", "field-secret-6", "hdr-secret-7", "list-secret-8", "nested-secret-9"} {
		if got := r.String("x " + s + " y"); got != "x "+Mask+" y" {
			t.Errorf("%s not learned: %q", s, got)
		}
	}
	for _, s := range []string{"img:1", "debug-level", "MY_KEY_VARIABLE", "4000", "gateway-keys"} {
		if got := r.String(s); got != s {
			t.Errorf("%s masked: %q", s, got)
		}
	}
}

// TestManyValuesAreBounded learns a 1 MiB text of distinct ?key= values (a
// hostile plan): the known values stop at MaxKnown, and the patterns still
// mask every one of them in place.
func TestManyValuesAreBounded(t *testing.T) {
	var b strings.Builder
	for i := 0; b.Len() < 1<<20; i++ {
		fmt.Fprintf(&b, "?key=%08x&", i)
	}
	r := New()
	r.LearnValue(map[string]any{"url": b.String()})
	if r.Len() != MaxKnown {
		t.Errorf("Len = %d, want MaxKnown", r.Len())
	}
	r.Add("the-stack-key-after-them")
	if r.Len() != MaxKnown+1 {
		t.Error("Add refused a key past MaxKnown")
	}
	if out := r.String(b.String()); strings.Count(out, "key="+Mask) != strings.Count(b.String(), "key=") {
		t.Error("a value went unmasked")
	}
}
