package logs

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hsu-run/hsu/config"
)

// syncBuffer is a console that tests can read while writers run.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// clock is a fake clock that advances by step at every reading.
type clock struct {
	mu   sync.Mutex
	t    time.Time
	step time.Duration
}

func newClock(step time.Duration) *clock {
	return &clock{t: time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC), step: step}
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(c.step)
	return c.t
}

// collector records every routed line through OnLine.
type collector struct {
	mu    sync.Mutex
	lines []Line
}

func (c *collector) add(l Line) {
	c.mu.Lock()
	c.lines = append(c.lines, l)
	c.mu.Unlock()
}

func (c *collector) texts() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := []string{}
	for _, l := range c.lines {
		out = append(out, l.Text)
	}
	return out
}

type fixture struct {
	h       *Hub
	console *syncBuffer
	lines   *collector
	dir     string
}

func newFixture(t *testing.T, opts HubOptions) *fixture {
	t.Helper()
	f := &fixture{console: &syncBuffer{}, lines: &collector{}, dir: t.TempDir()}
	if opts.Now == nil {
		opts.Now = newClock(time.Millisecond).now
	}
	opts.OnLine = f.lines.add
	if opts.OnError == nil {
		opts.OnError = func(err error) { t.Errorf("OnError: %v", err) }
	}
	f.h = NewHub(f.console, opts)
	testHubs.Store(f.h, true)
	t.Cleanup(func() {
		testHubs.Delete(f.h)
		if err := f.h.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return f
}

// logsCfg is a config.Logs with the schema's defaults.
func logsCfg(file string) config.Logs {
	return config.Logs{File: file, Format: "text", Console: true, Buffer: 1000}
}

func texts(lines []Line) []string {
	out := []string{}
	for _, l := range lines {
		out = append(out, l.Text)
	}
	return out
}

// testHubs are the fixtures' hubs: a test reads a log file only once
// they have written what they queued (syncHubs).
var testHubs sync.Map

// syncHubs waits until every fixture hub has written its queued lines.
func syncHubs(t *testing.T) {
	t.Helper()
	testHubs.Range(func(h, _ any) bool {
		if !h.(*Hub).Sync(10 * time.Second) {
			t.Fatal("a log file's queue did not empty within 10 s")
		}
		return true
	})
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	syncHubs(t)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return splitFile(b)
}

func splitFile(b []byte) []string {
	s := string(b)
	if s == "" {
		return []string{}
	}
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
}

func TestSplitting(t *testing.T) {
	cases := []struct {
		name string
		in   string
		want []string
	}{
		{"empty", "", []string{}},
		{"one line", "hello\n", []string{"hello"}},
		{"several", "a\nb\nc\n", []string{"a", "b", "c"}},
		{"unterminated last line", "a\nb", []string{"a", "b"}},
		{"only unterminated", "partial", []string{"partial"}},
		{"empty lines kept", "\n\nx\n\n", []string{"", "", "x", ""}},
		{"CRLF stripped", "a\r\nb\r\n", []string{"a", "b"}},
		{"lone CR kept (progress bars)", "10%\r20%\r30%\n", []string{"10%\r20%\r30%"}},
		{"only the CR before LF goes", "a\r\r\n", []string{"a\r"}},
		{"CR of an unterminated last line kept", "a\r\nb\r", []string{"a", "b\r"}},
		{"utf-8 kept", "héllo wörld ✓\n", []string{"héllo wörld ✓"}},
		{"invalid utf-8 kept raw", "a\xffb\n", []string{"a\xffb"}},
	}
	chunkings := []struct {
		name  string
		split func(s string, r *rand.Rand) []string
	}{
		{"whole", func(s string, _ *rand.Rand) []string { return []string{s} }},
		{"byte by byte", func(s string, _ *rand.Rand) []string {
			var out []string
			for i := range len(s) {
				out = append(out, s[i:i+1])
			}
			return out
		}},
		{"random", func(s string, r *rand.Rand) []string {
			var out []string
			for len(s) > 0 {
				n := 1 + r.IntN(min(len(s), 4))
				out = append(out, s[:n])
				s = s[n:]
			}
			return out
		}},
	}
	for _, c := range cases {
		for _, ch := range chunkings {
			t.Run(c.name+"/"+ch.name, func(t *testing.T) {
				f := newFixture(t, HubOptions{})
				w := f.h.Writer("api", 1, StreamStdout)
				for _, part := range ch.split(c.in, rand.New(rand.NewPCG(1, 2))) {
					n, err := w.Write([]byte(part))
					if err != nil || n != len(part) {
						t.Fatalf("Write = %d, %v", n, err)
					}
				}
				if err := w.Close(); err != nil {
					t.Fatal(err)
				}
				if got := f.lines.texts(); !slices.Equal(got, c.want) {
					t.Errorf("lines = %q, want %q", got, c.want)
				}
				if got := texts(f.h.Tail(nil, 0)); !slices.Equal(got, c.want) {
					t.Errorf("Tail = %q, want %q", got, c.want)
				}
			})
		}
	}
}

func TestFinalLineDeliveredOnClose(t *testing.T) {
	f := newFixture(t, HubOptions{})
	path := filepath.Join(f.dir, "api.log")
	if err := f.h.Configure("api", logsCfg(path)); err != nil {
		t.Fatal(err)
	}
	w := f.h.Writer("api", 1, StreamStdout)
	io.WriteString(w, "first\nlast words")
	if got := f.lines.texts(); !slices.Equal(got, []string{"first"}) {
		t.Fatalf("before Close: %q", got)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	want := []string{"first", "last words"}
	if got := f.lines.texts(); !slices.Equal(got, want) {
		t.Errorf("after Close: %q, want %q", got, want)
	}
	if got := readLines(t, path); !slices.Equal(got, want) {
		t.Errorf("file: %q, want %q", got, want)
	}
	if _, err := w.Write([]byte("more\n")); !errors.Is(err, os.ErrClosed) {
		t.Errorf("Write after Close: %v, want ErrClosed", err)
	}
	if err := w.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestLongLineKeptWhole(t *testing.T) {
	f := newFixture(t, HubOptions{})
	path := filepath.Join(f.dir, "big.log")
	if err := f.h.Configure("big", logsCfg(path)); err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("0123456789abcdef", 200<<10/16) // 200 KiB
	in := "before\n" + long + "\nafter\n"
	if err := f.h.Copy("big", 1, StreamStdout, strings.NewReader(in)); err != nil {
		t.Fatal(err)
	}
	want := []string{"before", long, "after"}
	if got := f.lines.texts(); !slices.Equal(got, want) {
		t.Errorf("routed %d lines of lengths %v", len(got), lens(got))
	}
	if got := readLines(t, path); !slices.Equal(got, want) {
		t.Errorf("file has %d lines of lengths %v", len(got), lens(got))
	}
	if !strings.Contains(f.console.String(), "big-1 | "+long+"\n") {
		t.Error("console lacks the whole long line")
	}
}

func lens(ss []string) []int {
	var out []int
	for _, s := range ss {
		out = append(out, len(s))
	}
	return out
}

func TestMaxLineSplitsWithoutLoss(t *testing.T) {
	f := newFixture(t, HubOptions{MaxLine: 4})
	w := f.h.Writer("api", 1, StreamStdout)
	io.WriteString(w, "abcdefghij\nxy")
	io.WriteString(w, "zuvw")
	w.Close()
	want := []string{"abcd", "efgh", "ij", "xyzu", "vw"}
	if got := f.lines.texts(); !slices.Equal(got, want) {
		t.Errorf("lines = %q, want %q", got, want)
	}
}

// chunkyWriter writes lines to w in random-sized pieces.
func writeInChunks(w io.Writer, data []byte, seed uint64) error {
	r := rand.New(rand.NewPCG(seed, 0))
	for len(data) > 0 {
		n := 1 + r.IntN(min(len(data), 300))
		if _, err := w.Write(data[:n]); err != nil {
			return err
		}
		data = data[n:]
	}
	return nil
}

func TestCopyFromPipeDeliversAllInOrder(t *testing.T) {
	f := newFixture(t, HubOptions{})
	path := filepath.Join(f.dir, "sub", "dir", "api.log")
	cfg := logsCfg(path)
	cfg.Buffer = 10000
	cfg.Console = false
	if err := f.h.Configure("api", cfg); err != nil {
		t.Fatal(err)
	}
	var want []string
	var data bytes.Buffer
	for i := range 10000 {
		s := fmt.Sprintf("line %05d %s", i, strings.Repeat("x", i%37))
		want = append(want, s)
		data.WriteString(s + "\n")
	}
	pr, pw := io.Pipe()
	go func() {
		pw.CloseWithError(writeInChunks(pw, data.Bytes(), 7))
	}()
	if err := f.h.Copy("api", 1, StreamStdout, pr); err != nil {
		t.Fatal(err)
	}
	// Copy has returned: everything must be routed already.
	if got := readLines(t, path); !slices.Equal(got, want) {
		t.Errorf("file: %d lines, want %d (first diff at %d)", len(got), len(want), firstDiff(got, want))
	}
	if got := texts(f.h.Tail([]string{"api"}, 0)); !slices.Equal(got, want) {
		t.Errorf("ring: %d lines, want %d (first diff at %d)", len(got), len(want), firstDiff(got, want))
	}
	if f.console.String() != "" {
		t.Error("console: false, yet something was printed")
	}
	if runtime.GOOS != "windows" {
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if p := st.Mode().Perm(); p&^0o640 != 0 {
			t.Errorf("file mode %v, want at most 0640", p)
		}
		st, err = os.Stat(filepath.Dir(path))
		if err != nil {
			t.Fatal(err)
		}
		if p := st.Mode().Perm(); p&^0o750 != 0 {
			t.Errorf("dir mode %v, want at most 0750", p)
		}
	}
}

func firstDiff(a, b []string) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

type failingReader struct {
	data []byte
	err  error
}

func (r *failingReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, r.err
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

func TestCopyReturnsReadErrorAfterRoutingEverything(t *testing.T) {
	f := newFixture(t, HubOptions{})
	boom := errors.New("boom")
	err := f.h.Copy("api", 1, StreamStderr, &failingReader{data: []byte("a\nb"), err: boom})
	if !errors.Is(err, boom) {
		t.Errorf("Copy = %v, want boom", err)
	}
	if got := f.lines.texts(); !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("lines = %q", got)
	}
}

func TestConsoleFormat(t *testing.T) {
	f := newFixture(t, HubOptions{})
	for _, name := range []string{"api", "worker"} {
		if err := f.h.Configure(name, logsCfg("")); err != nil {
			t.Fatal(err)
		}
	}
	quiet := logsCfg("")
	quiet.Console = false
	if err := f.h.Configure("a-very-long-silent-name", quiet); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		do   func()
		want string
	}{
		{func() { io.WriteString(f.h.Writer("api", 1, StreamStdout), "hello\n") }, "api-1    | hello\n"},
		{func() { io.WriteString(f.h.Writer("worker", 1, StreamStderr), "oops\n") }, "worker-1 ! oops\n"},
		{func() { f.h.Emit(Line{Worker: "api", Replica: 1, Text: "restarting in 2s"}) }, "api-1    * restarting in 2s\n"},
		{func() { f.h.Emit(Line{Worker: "api", Text: "stopped"}) }, "api      * stopped\n"},
		{func() { io.WriteString(f.h.Writer("api", 1, StreamStdout), "\n") }, "api-1    |\n"},
		{func() { io.WriteString(f.h.Writer("a-very-long-silent-name", 1, StreamStdout), "x\n") }, ""},
		// A tenth replica of the widest worker widens every label.
		{func() { io.WriteString(f.h.Writer("worker", 10, StreamStdout), "ten\n") }, "worker-10 | ten\n"},
		{func() { io.WriteString(f.h.Writer("api", 1, StreamStdout), "a\n") }, "api-1     | a\n"},
	}
	before := ""
	for i, s := range steps {
		s.do()
		all := f.console.String()
		if got := strings.TrimPrefix(all, before); got != s.want {
			t.Errorf("step %d: console got %q, want %q", i, got, s.want)
		}
		before = all
	}
	if strings.Contains(f.console.String(), "\x1b") {
		t.Error("escape codes without Color")
	}
}

func TestConsoleColor(t *testing.T) {
	f := newFixture(t, HubOptions{Color: true})
	io.WriteString(f.h.Writer("api", 1, StreamStdout), "one\n")
	io.WriteString(f.h.Writer("db", 1, StreamStdout), "two\n")
	io.WriteString(f.h.Writer("api", 2, StreamStderr), "three\n")
	lines := strings.Split(strings.TrimSuffix(f.console.String(), "\n"), "\n")
	re := regexp.MustCompile(`^(\x1b\[3[1-6]m)(\S+) +([|!])\x1b\[0m (.*)$`)
	colors := map[string]string{}
	for _, l := range lines {
		m := re.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("line %q is not coloured as expected", l)
		}
		name := strings.Split(m[2], "-")[0]
		if c, ok := colors[name]; ok && c != m[1] {
			t.Errorf("worker %s has two colours", name)
		}
		colors[name] = m[1]
	}
	if got := string(colorFor("api")); got != colors["api"] {
		t.Errorf("colour of api is not stable")
	}
}

func TestIsTerminal(t *testing.T) {
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	defer pw.Close()
	file, err := os.Create(filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	for _, c := range []struct {
		name string
		f    *os.File
	}{{"pipe", pw}, {"regular file", file}, {"nil", nil}} {
		if IsTerminal(c.f) {
			t.Errorf("%s: IsTerminal = true, want false", c.name)
		}
	}
	// A terminal, when the test has one: NO_COLOR turns colour off, not
	// the terminal.
	if tty, err := os.OpenFile("/dev/tty", os.O_WRONLY, 0); err == nil {
		defer tty.Close()
		t.Setenv("NO_COLOR", "1")
		if !IsTerminal(tty) {
			t.Error("IsTerminal(/dev/tty) = false")
		}
	}
}

func TestColorFor(t *testing.T) {
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	defer pw.Close()
	file, err := os.Create(filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	cases := []struct {
		name    string
		noColor string
		f       *os.File
	}{
		{"pipe", "", pw},
		{"regular file", "", file},
		{"pipe with NO_COLOR", "1", pw},
		{"nil", "", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv("NO_COLOR", c.noColor)
			if ColorFor(c.f) {
				t.Error("ColorFor = true, want false")
			}
		})
	}
	// A terminal, when the test has one: NO_COLOR still wins.
	if tty, err := os.OpenFile("/dev/tty", os.O_WRONLY, 0); err == nil {
		defer tty.Close()
		t.Setenv("NO_COLOR", "1")
		if ColorFor(tty) {
			t.Error("NO_COLOR set, yet colour on a terminal")
		}
	}
	// And with colour off nothing carries escapes, whatever the stream.
	f := newFixture(t, HubOptions{Color: ColorFor(pw)})
	io.WriteString(f.h.Writer("api", 1, StreamStdout), "a\n")
	io.WriteString(f.h.Writer("api", 1, StreamStderr), "b\n")
	f.h.Emit(Line{Worker: "api", Text: "c"})
	if strings.Contains(f.console.String(), "\x1b") {
		t.Errorf("escape codes on a non-terminal: %q", f.console.String())
	}
}

func TestJSONFile(t *testing.T) {
	clk := newClock(1500 * time.Microsecond)
	f := newFixture(t, HubOptions{Now: clk.now})
	path := filepath.Join(f.dir, "api.json")
	cfg := logsCfg(path)
	cfg.Format = "json"
	if err := f.h.Configure("api", cfg); err != nil {
		t.Fatal(err)
	}
	inputs := []struct {
		replica int
		stream  string
		text    string
		want    string // when it differs from text
	}{
		{1, StreamStdout, "plain", ""},
		{1, StreamStderr, `quotes " and \ backslash`, ""},
		{2, StreamStdout, "tab\there, bell\a, esc\x1b[0m, cr\rx", ""},
		{2, StreamStdout, "<html> & \u2028 \u2029 ünïcödé ✓", ""},
		{1, StreamStdout, "bad \xff utf-8", "bad \ufffd utf-8"},
		{1, StreamStdout, "", ""},
	}
	for _, in := range inputs {
		w := f.h.Writer("api", in.replica, in.stream)
		io.WriteString(w, in.text+"\n")
		w.Close()
	}
	f.h.Emit(Line{Worker: "api", Replica: 1, Text: "restarting"})
	routed := f.h.Tail(nil, 0)

	syncHubs(t)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	fileLines := splitFile(b)
	if len(fileLines) != len(inputs)+1 {
		t.Fatalf("%d JSON lines, want %d", len(fileLines), len(inputs)+1)
	}
	for i, raw := range fileLines {
		if !json.Valid([]byte(raw)) {
			t.Errorf("line %d is not valid JSON: %s", i, raw)
			continue
		}
		var keys map[string]any
		json.Unmarshal([]byte(raw), &keys)
		if len(keys) != 5 || keys["time"] == nil || keys["worker"] == nil || keys["replica"] == nil || keys["stream"] == nil || keys["line"] == nil {
			t.Errorf("line %d keys: %v", i, keys)
		}
		var got Line
		if err := json.Unmarshal([]byte(raw), &got); err != nil {
			t.Fatal(err)
		}
		want := routed[i]
		if i < len(inputs) && inputs[i].want != "" {
			want.Text = inputs[i].want
		}
		if !got.Time.Equal(want.Time) || got.Worker != want.Worker || got.Replica != want.Replica ||
			got.Stream != want.Stream || got.Text != want.Text {
			t.Errorf("line %d round-trips to %+v, want %+v", i, got, want)
		}
		// Same bytes as encoding/json would write for valid UTF-8 (modulo
		// its HTML escaping, which we do not do).
		if i < len(inputs) && inputs[i].want == "" {
			std, _ := json.Marshal(want)
			var a, b any
			json.Unmarshal(std, &a)
			json.Unmarshal([]byte(raw), &b)
			if fmt.Sprint(a) != fmt.Sprint(b) {
				t.Errorf("line %d differs from encoding/json: %s vs %s", i, raw, std)
			}
		}
	}
	if !strings.Contains(fileLines[0], `"time":"2024-05-06T07:08:09.`) {
		t.Errorf("time not RFC 3339 with fraction: %s", fileLines[0])
	}
}

func TestTextFileTags(t *testing.T) {
	cases := []struct {
		name     string
		replicas int
		want     []string
	}{
		{"single replica: raw lines", 1, []string{"out", "err", "hsu: restarting"}},
		{"replicas tagged", 3, []string{"[1] out", "[1] err", "[1] hsu: restarting"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t, HubOptions{})
			path := filepath.Join(f.dir, "api.log")
			if err := f.h.Configure("api", logsCfg(path)); err != nil {
				t.Fatal(err)
			}
			f.h.SetReplicas("api", c.replicas)
			io.WriteString(f.h.Writer("api", 1, StreamStdout), "out\n")
			io.WriteString(f.h.Writer("api", 1, StreamStderr), "err\n")
			f.h.Emit(Line{Worker: "api", Replica: 1, Text: "restarting"})
			if got := readLines(t, path); !slices.Equal(got, c.want) {
				t.Errorf("file = %q, want %q", got, c.want)
			}
		})
	}
}

// TestTextFileTagsLearned pins what docs/config.md says of a worker whose
// replica count the hub was never told (hsu run does not call SetReplicas
// yet): tagging starts when a writer for a replica above 1 opens (at that
// instance's start, before it prints), so replica 1's earlier lines stay
// untagged.
func TestTextFileTagsLearned(t *testing.T) {
	type write struct {
		replica int
		text    string // "": only open the writer
	}
	cases := []struct {
		name   string
		writes []write
		want   []string
	}{
		{"replica 2's line turns tagging on", []write{{1, "a"}, {2, "b"}}, []string{"a", "[2] b"}},
		{"replica 2's writer turns it on before it prints", []write{{1, "a"}, {2, ""}, {1, "c"}}, []string{"a", "[1] c"}},
		{"one replica only: never tagged", []write{{1, "a"}, {1, "b"}}, []string{"a", "b"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t, HubOptions{})
			path := filepath.Join(f.dir, "web.log")
			if err := f.h.Configure("web", logsCfg(path)); err != nil {
				t.Fatal(err)
			}
			for _, w := range c.writes {
				wr := f.h.Writer("web", w.replica, StreamStdout)
				if w.text != "" {
					io.WriteString(wr, w.text+"\n")
				}
			}
			if got := readLines(t, path); !slices.Equal(got, c.want) {
				t.Errorf("file = %q, want %q", got, c.want)
			}
		})
	}
}

// rotated lists the backups of path, oldest first, with their content.
func rotated(t *testing.T, path string) (names []string, content [][]string) {
	t.Helper()
	list, err := backups(path)
	if err != nil {
		t.Fatal(err)
	}
	slices.Reverse(list)
	for _, b := range list {
		name := b.name
		var data []byte
		if b.gz {
			name += ".gz"
			syncHubs(t)
			fh, err := os.Open(name)
			if err != nil {
				t.Fatal(err)
			}
			zr, err := gzip.NewReader(fh)
			if err != nil {
				t.Fatal(err)
			}
			data, err = io.ReadAll(zr)
			fh.Close()
			if err != nil {
				t.Fatal(err)
			}
		} else {
			syncHubs(t)
			data, err = os.ReadFile(name)
			if err != nil {
				t.Fatal(err)
			}
		}
		names = append(names, filepath.Base(name))
		content = append(content, splitFile(data))
	}
	return names, content
}

func TestRotation(t *testing.T) {
	// 100 lines of 100 bytes (99 + newline); 1 KiB files hold 10 lines.
	var want []string
	var data bytes.Buffer
	for i := range 100 {
		s := fmt.Sprintf("%03d %s", i, strings.Repeat("r", 95))
		want = append(want, s)
		data.WriteString(s + "\n")
	}
	cases := []struct {
		name     string
		rot      config.Rotate
		backups  int
		gz       bool
		clockFix bool // a frozen clock: names must still be unique and ordered
	}{
		{"max_files keeps the newest", config.Rotate{MaxSize: 1024, MaxFiles: 3}, 3, false, false},
		{"max_files 0 keeps all", config.Rotate{MaxSize: 1024}, 9, false, true},
		{"compress", config.Rotate{MaxSize: 1024, MaxFiles: 4, Compress: true}, 4, true, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			step := time.Second
			if c.clockFix {
				step = 0
			}
			f := newFixture(t, HubOptions{Now: newClock(step).now})
			path := filepath.Join(f.dir, "api.log")
			cfg := logsCfg(path)
			cfg.Console = false
			cfg.Rotate = c.rot
			if err := f.h.Configure("api", cfg); err != nil {
				t.Fatal(err)
			}
			if err := writeInChunks(f.h.Writer("api", 1, StreamStdout), data.Bytes(), 3); err != nil {
				t.Fatal(err)
			}
			// Close waits for compression and pruning.
			if err := f.h.Close(); err != nil {
				t.Fatal(err)
			}
			names, content := rotated(t, path)
			if len(names) != c.backups {
				t.Fatalf("%d rotated files %v, want %d", len(names), names, c.backups)
			}
			var all []string
			for i, lines := range content {
				if len(lines) != 10 {
					t.Errorf("%s holds %d lines, want 10", names[i], len(lines))
				}
				if strings.HasSuffix(names[i], ".gz") != c.gz {
					t.Errorf("%s: compressed = %v, want %v", names[i], !c.gz, c.gz)
				}
				if !regexp.MustCompile(`^api-\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d\.\d{3}\.log(\.gz)?$`).MatchString(names[i]) {
					t.Errorf("backup name %q", names[i])
				}
				all = append(all, lines...)
			}
			current := readLines(t, path)
			all = append(all, current...)
			if len(current) != 10 {
				t.Errorf("current file holds %d lines", len(current))
			}
			// Whatever is kept is the newest, contiguous, in order.
			if !slices.Equal(all, want[len(want)-len(all):]) {
				t.Errorf("kept lines are not the last %d in order", len(all))
			}
			syncHubs(t)
			entries, _ := os.ReadDir(f.dir)
			if len(entries) != c.backups+1 {
				t.Errorf("directory holds %d files, want %d", len(entries), c.backups+1)
			}
		})
	}
}

func TestRotationEdgeCases(t *testing.T) {
	f := newFixture(t, HubOptions{})
	path := filepath.Join(f.dir, "api.log")
	// An existing file already over the limit rotates on the first write.
	os.WriteFile(path, []byte(strings.Repeat("old\n", 100)), 0o640)
	cfg := logsCfg(path)
	cfg.Rotate = config.Rotate{MaxSize: 100}
	if err := f.h.Configure("api", cfg); err != nil {
		t.Fatal(err)
	}
	w := f.h.Writer("api", 1, StreamStdout)
	io.WriteString(w, "short\n")
	// A line longer than max_size goes alone into a fresh file.
	long := strings.Repeat("L", 250)
	io.WriteString(w, long+"\nafter\n")
	f.h.Close()
	_, content := rotated(t, path)
	want := [][]string{splitFile([]byte(strings.Repeat("old\n", 100))), {"short"}, {long}}
	if len(content) != len(want) {
		t.Fatalf("%d backups, want %d", len(content), len(want))
	}
	for i := range want {
		if !slices.Equal(content[i], want[i]) {
			t.Errorf("backup %d holds lines of lengths %v, want %v", i, lens(content[i]), lens(want[i]))
		}
	}
	if got := readLines(t, path); !slices.Equal(got, []string{"after"}) {
		t.Errorf("current = %q", got)
	}
}

func flatten(c [][]string) []string {
	var out []string
	for _, l := range c {
		out = append(out, l...)
	}
	return out
}

func TestMaxAgePrunes(t *testing.T) {
	clk := newClock(0)
	f := newFixture(t, HubOptions{Now: clk.now})
	path := filepath.Join(f.dir, "api.log")
	// Backups from earlier runs: one a day old, one recent, plus a foreign file.
	old := filepath.Join(f.dir, "api-2024-05-05T07-08-09.000.log")
	recent := filepath.Join(f.dir, "api-2024-05-06T07-00-00.000.log")
	foreign := filepath.Join(f.dir, "api-v2.log")
	for _, p := range []string{old, recent, foreign} {
		os.WriteFile(p, []byte("x\n"), 0o640)
	}
	cfg := logsCfg(path)
	cfg.Rotate = config.Rotate{MaxSize: 1 << 20, MaxAge: config.Duration(time.Hour)}
	if err := f.h.Configure("api", cfg); err != nil {
		t.Fatal(err)
	}
	f.h.Close()
	for p, want := range map[string]bool{old: false, recent: true, foreign: true} {
		if exists(p) != want {
			t.Errorf("%s exists = %v, want %v", filepath.Base(p), !want, want)
		}
	}
}

func TestRingKeepsLastN(t *testing.T) {
	cases := []struct {
		name   string
		buffer int
		write  int
		want   int
	}{
		{"fewer than buffer", 5, 3, 3},
		{"exactly buffer", 5, 5, 5},
		{"wraps", 5, 12, 5},
		{"wraps many times", 3, 1000, 3},
		{"buffer 0 keeps nothing", 0, 10, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t, HubOptions{})
			cfg := logsCfg("")
			cfg.Buffer = c.buffer
			f.h.Configure("api", cfg)
			w := f.h.Writer("api", 1, StreamStdout)
			var all []string
			for i := range c.write {
				all = append(all, fmt.Sprint(i))
				fmt.Fprintf(w, "%d\n", i)
			}
			want := all[len(all)-c.want:]
			if got := texts(f.h.Tail(nil, 0)); !slices.Equal(got, want) {
				t.Errorf("Tail(all) = %q, want %q", got, want)
			}
			if c.want >= 2 {
				if got := texts(f.h.Tail(nil, 2)); !slices.Equal(got, want[len(want)-2:]) {
					t.Errorf("Tail(2) = %q", got)
				}
			}
		})
	}
	// Resizing on reload keeps the newest lines.
	f := newFixture(t, HubOptions{})
	cfg := logsCfg("")
	cfg.Buffer = 10
	f.h.Configure("api", cfg)
	w := f.h.Writer("api", 1, StreamStdout)
	for i := range 10 {
		fmt.Fprintf(w, "%d\n", i)
	}
	cfg.Buffer = 3
	f.h.Configure("api", cfg)
	if got := texts(f.h.Tail(nil, 0)); !slices.Equal(got, []string{"7", "8", "9"}) {
		t.Errorf("after shrink: %q", got)
	}
	cfg.Buffer = 5
	f.h.Configure("api", cfg)
	io.WriteString(w, "10\n")
	if got := texts(f.h.Tail(nil, 0)); !slices.Equal(got, []string{"7", "8", "9", "10"}) {
		t.Errorf("after grow: %q", got)
	}
}

func TestTailMergesByTime(t *testing.T) {
	f := newFixture(t, HubOptions{})
	for _, name := range []string{"a", "b", "c"} {
		f.h.Configure(name, logsCfg(""))
	}
	wa := f.h.Writer("a", 1, StreamStdout)
	wb := f.h.Writer("b", 1, StreamStdout)
	wc := f.h.Writer("c", 1, StreamStdout)
	order := []struct {
		w    io.Writer
		text string
	}{{wb, "1"}, {wa, "2"}, {wa, "3"}, {wc, "4"}, {wb, "5"}, {wa, "6"}, {wc, "7"}}
	for _, o := range order {
		io.WriteString(o.w, o.text+"\n")
	}
	cases := []struct {
		workers []string
		n       int
		want    []string
	}{
		{nil, 0, []string{"1", "2", "3", "4", "5", "6", "7"}},
		{nil, 3, []string{"5", "6", "7"}},
		{[]string{"a", "b"}, 0, []string{"1", "2", "3", "5", "6"}},
		{[]string{"a", "b"}, 4, []string{"2", "3", "5", "6"}},
		{[]string{"c"}, 1, []string{"7"}},
		{[]string{"nope"}, 0, []string{}},
	}
	for _, c := range cases {
		got := f.h.Tail(c.workers, c.n)
		if !slices.Equal(texts(got), c.want) {
			t.Errorf("Tail(%v, %d) = %q, want %q", c.workers, c.n, texts(got), c.want)
		}
		for i := 1; i < len(got); i++ {
			if got[i].Time.Before(got[i-1].Time) {
				t.Errorf("Tail(%v, %d) not ordered by time", c.workers, c.n)
			}
		}
	}
}

// recvN receives n lines or fails; the timeout only guards against a hang.
func recvN(t *testing.T, ch <-chan Line, n int) []Line {
	t.Helper()
	var out []Line
	timeout := time.After(10 * time.Second)
	for len(out) < n {
		select {
		case l, ok := <-ch:
			if !ok {
				t.Fatalf("channel closed after %d lines, want %d", len(out), n)
			}
			out = append(out, l)
		case <-timeout:
			t.Fatalf("got %d lines, want %d", len(out), n)
		}
	}
	return out
}

func TestSubscribe(t *testing.T) {
	f := newFixture(t, HubOptions{})
	io.WriteString(f.h.Writer("api", 1, StreamStdout), "before\n")
	chAPI, cancelAPI := f.h.Subscribe([]string{"api"}, 100)
	chAll, cancelAll := f.h.Subscribe(nil, 100)
	io.WriteString(f.h.Writer("api", 1, StreamStdout), "one\n")
	io.WriteString(f.h.Writer("db", 1, StreamStdout), "db line\n")
	f.h.Emit(Line{Worker: "api", Text: "notice"})

	if got := texts(recvN(t, chAPI, 2)); !slices.Equal(got, []string{"one", "notice"}) {
		t.Errorf("api subscriber got %q", got)
	}
	if got := texts(recvN(t, chAll, 3)); !slices.Equal(got, []string{"one", "db line", "notice"}) {
		t.Errorf("all subscriber got %q", got)
	}
	cancelAPI()
	cancelAPI() // idempotent
	if _, ok := <-chAPI; ok {
		t.Error("channel open after cancel")
	}
	// Close ends the remaining subscription.
	f.h.Close()
	if _, ok := <-chAll; ok {
		t.Error("channel open after Close")
	}
	cancelAll()
	// Subscribing to a closed hub yields a closed channel.
	ch, cancel := f.h.Subscribe(nil, 1)
	if _, ok := <-ch; ok {
		t.Error("subscription on a closed hub is open")
	}
	cancel()
}

func TestSlowSubscriberNeverBlocks(t *testing.T) {
	f := newFixture(t, HubOptions{})
	cfg := logsCfg(filepath.Join(f.dir, "api.log"))
	cfg.Console = false
	f.h.Configure("api", cfg)
	ch, cancel := f.h.Subscribe(nil, 16)
	defer cancel()

	const total = 10000
	done := make(chan struct{})
	start := time.Now()
	go func() {
		defer close(done)
		w := f.h.Writer("api", 1, StreamStdout)
		for i := range total {
			fmt.Fprintf(w, "line %d\n", i)
		}
		w.Close()
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("writer blocked by a subscriber that never reads")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("10k lines took %v with a stuck subscriber", d)
	}

	// Now read: the queued lines, then where the rest was dropped.
	var delivered []string
	dropped := 0
	for dropped == 0 {
		l := recvN(t, ch, 1)[0]
		if l.Dropped > 0 {
			dropped = l.Dropped
			if l.Stream != StreamHsu || l.Worker != "api" || l.Text != fmt.Sprintf("... %d lines dropped", l.Dropped) {
				t.Errorf("marker line = %+v", l)
			}
			continue
		}
		delivered = append(delivered, l.Text)
	}
	if len(delivered) < 16 || len(delivered) > 17 {
		t.Errorf("%d lines delivered before the marker, want the buffer's 16 (+1 in flight)", len(delivered))
	}
	for i, s := range delivered {
		if s != fmt.Sprintf("line %d", i) {
			t.Fatalf("delivered[%d] = %q", i, s)
		}
	}
	if len(delivered)+dropped != total {
		t.Errorf("delivered %d + dropped %d != %d", len(delivered), dropped, total)
	}
	// The subscriber caught up: new lines flow again.
	io.WriteString(f.h.Writer("api", 1, StreamStdout), "fresh\n")
	if l := recvN(t, ch, 1)[0]; l.Text != "fresh" {
		t.Errorf("after catching up got %+v", l)
	}
	// Nothing was lost anywhere else.
	if n := len(readLines(t, filepath.Join(f.dir, "api.log"))); n != total+1 {
		t.Errorf("file has %d lines", n)
	}
}

func TestConfigureReload(t *testing.T) {
	f := newFixture(t, HubOptions{})
	a := filepath.Join(f.dir, "a.log")
	b := filepath.Join(f.dir, "b", "b.log")
	w := f.h.Writer("api", 1, StreamStdout)
	steps := []struct {
		cfg  config.Logs
		line string
	}{
		{logsCfg(a), "one"},
		{logsCfg(a), "two"}, // same path: same file, appended
		{logsCfg(b), "three"},
		{logsCfg(""), "four"}, // no file any more
		{logsCfg(a), "five"},
	}
	for _, s := range steps {
		if err := f.h.Configure("api", s.cfg); err != nil {
			t.Fatal(err)
		}
		io.WriteString(w, s.line+"\n")
	}
	if got := readLines(t, a); !slices.Equal(got, []string{"one", "two", "five"}) {
		t.Errorf("a.log = %q", got)
	}
	if got := readLines(t, b); !slices.Equal(got, []string{"three"}) {
		t.Errorf("b.log = %q", got)
	}
	// Format change on reload.
	cfg := logsCfg(b)
	cfg.Format = "json"
	f.h.Configure("api", cfg)
	io.WriteString(w, "six\n")
	got := readLines(t, b)
	if len(got) != 2 || !strings.HasPrefix(got[1], `{"time":`) {
		t.Errorf("b.log after json = %q", got)
	}
}

func TestConfigureErrors(t *testing.T) {
	f := newFixture(t, HubOptions{})
	good := filepath.Join(f.dir, "good.log")
	if err := f.h.Configure("api", logsCfg(good)); err != nil {
		t.Fatal(err)
	}
	bad := logsCfg(good)
	bad.Format = "xml"
	if err := f.h.Configure("api", bad); err == nil {
		t.Error("format xml accepted")
	}
	// A path under a regular file cannot be opened: the old file stays.
	blocker := filepath.Join(f.dir, "blocker")
	os.WriteFile(blocker, nil, 0o640)
	if err := f.h.Configure("api", logsCfg(filepath.Join(blocker, "x.log"))); err == nil {
		t.Error("unopenable path accepted")
	}
	io.WriteString(f.h.Writer("api", 1, StreamStdout), "still here\n")
	if got := readLines(t, good); !slices.Equal(got, []string{"still here"}) {
		t.Errorf("good.log = %q", got)
	}
	f.h.Close()
	if err := f.h.Configure("api", logsCfg(good)); !errors.Is(err, ErrClosed) {
		t.Errorf("Configure after Close = %v", err)
	}
}

func TestRemove(t *testing.T) {
	f := newFixture(t, HubOptions{})
	path := filepath.Join(f.dir, "api.log")
	f.h.Configure("api", logsCfg(path))
	f.h.Configure("db", logsCfg(""))
	io.WriteString(f.h.Writer("api", 1, StreamStdout), "x\n")
	f.h.Remove("api")
	f.h.Remove("nope")
	if got := f.h.Tail(nil, 0); len(got) != 0 {
		t.Errorf("Tail after Remove = %v", got)
	}
	// The file is closed and no longer written; the path can be reused.
	io.WriteString(f.h.Writer("api", 1, StreamStdout), "late\n")
	if got := readLines(t, path); !slices.Equal(got, []string{"x"}) {
		t.Errorf("file = %q", got)
	}
	if !strings.Contains(f.console.String(), "api-1 | late\n") {
		t.Errorf("late line not on console with defaults: %q", f.console.String())
	}
}

func TestSharedFileBetweenWorkers(t *testing.T) {
	f := newFixture(t, HubOptions{})
	path := filepath.Join(f.dir, "all.log")
	f.h.Configure("a", logsCfg(path))
	f.h.Configure("b", logsCfg(path))
	io.WriteString(f.h.Writer("a", 1, StreamStdout), "from a\n")
	io.WriteString(f.h.Writer("b", 1, StreamStdout), "from b\n")
	f.h.Remove("a") // b still holds the file
	io.WriteString(f.h.Writer("b", 1, StreamStdout), "b again\n")
	if got := readLines(t, path); !slices.Equal(got, []string{"from a", "from b", "b again"}) {
		t.Errorf("file = %q", got)
	}
}

func TestEmitStampsAndDefaults(t *testing.T) {
	clk := newClock(time.Second)
	f := newFixture(t, HubOptions{Now: clk.now})
	given := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	f.h.Emit(Line{Worker: "api", Replica: 1, Text: "a"})
	f.h.Emit(Line{Worker: "api", Replica: 1, Text: "b", Time: given, Stream: StreamStderr, Dropped: 9})
	got := f.h.Tail(nil, 0)
	if len(got) != 2 {
		t.Fatalf("Tail = %v", got)
	}
	if got[0].Stream != StreamHsu || got[0].Time.IsZero() || got[0].Dropped != 0 {
		t.Errorf("first = %+v", got[0])
	}
	if got[1].Stream != StreamStderr || !got[1].Time.Equal(given) || got[1].Dropped != 0 {
		t.Errorf("second = %+v", got[1])
	}
}

func TestConcurrentWriters(t *testing.T) {
	f := newFixture(t, HubOptions{Now: time.Now, Color: true})
	path := filepath.Join(f.dir, "api.log")
	cfg := logsCfg(path)
	cfg.Buffer = 100
	cfg.Rotate = config.Rotate{MaxSize: 64 << 10, MaxFiles: 0}
	f.h.Configure("api", cfg)
	f.h.Configure("db", logsCfg(filepath.Join(f.dir, "db.log")))
	const writers, lines = 16, 300
	f.h.SetReplicas("api", writers)

	// A reading subscriber and a stuck one, plus readers of Tail.
	ch, cancel := f.h.Subscribe(nil, 64)
	_, cancelStuck := f.h.Subscribe([]string{"api"}, 1)
	defer cancelStuck()
	received := 0
	recvDone := make(chan struct{})
	go func() {
		defer close(recvDone)
		for l := range ch {
			if l.Dropped > 0 {
				received += l.Dropped
			} else {
				received++
			}
		}
	}()

	var wg sync.WaitGroup
	for i := 1; i <= writers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var data bytes.Buffer
			for j := range lines {
				fmt.Fprintf(&data, "replica %d line %d %s\n", i, j, strings.Repeat("z", j%50))
			}
			stream := StreamStdout
			if i%2 == 0 {
				stream = StreamStderr
			}
			pr, pw := io.Pipe()
			go func() { pw.CloseWithError(writeInChunks(pw, data.Bytes(), uint64(i))) }()
			if err := f.h.Copy("api", i, stream, pr); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Add(2)
	go func() {
		defer wg.Done()
		for j := range lines {
			f.h.Emit(Line{Worker: "db", Text: fmt.Sprint("notice ", j)})
		}
	}()
	go func() {
		defer wg.Done()
		for range 50 {
			f.h.Tail(nil, 10)
			f.h.Configure("db", logsCfg(filepath.Join(f.dir, "db.log")))
		}
	}()
	wg.Wait()
	cancel()
	<-recvDone
	if received > writers*lines+lines {
		t.Errorf("subscriber counted %d lines, more than were written", received)
	}

	if err := f.h.Close(); err != nil {
		t.Fatal(err)
	}
	// Every line in a file, whole, in order per replica.
	_, content := rotated(t, path)
	all := append(flatten(content), readLines(t, path)...)
	if len(all) != writers*lines {
		t.Fatalf("files hold %d lines, want %d", len(all), writers*lines)
	}
	next := map[int]int{}
	re := regexp.MustCompile(`^\[(\d+)\] replica (\d+) line (\d+) z*$`)
	for _, l := range all {
		m := re.FindStringSubmatch(l)
		if m == nil || m[1] != m[2] {
			t.Fatalf("mangled line %q", l)
		}
		var r, j int
		fmt.Sscan(m[2], &r)
		fmt.Sscan(m[3], &j)
		if j != next[r] {
			t.Fatalf("replica %d: line %d after %d", r, j, next[r]-1)
		}
		next[r]++
	}
	// Console lines never interleave mid-line.
	sc := bufio.NewScanner(strings.NewReader(f.console.String()))
	sc.Buffer(nil, 1<<20)
	con := regexp.MustCompile(`^\x1b\[3[1-6]m(api-\d+|db) +[|!*]\x1b\[0m (replica (\d+) line \d+ z*|notice \d+)$`)
	n := 0
	for sc.Scan() {
		if !con.MatchString(sc.Text()) {
			t.Fatalf("console line %q", sc.Text())
		}
		n++
	}
	if n != writers*lines+lines {
		t.Errorf("console has %d lines, want %d", n, writers*lines+lines)
	}
}

func TestCloseStopsEverything(t *testing.T) {
	f := newFixture(t, HubOptions{})
	cfg := logsCfg(filepath.Join(f.dir, "api.log"))
	cfg.Rotate = config.Rotate{MaxSize: 10, MaxFiles: 1, Compress: true}
	f.h.Configure("api", cfg)
	for range 5 {
		f.h.Subscribe(nil, 1)
	}
	w := f.h.Writer("api", 1, StreamStdout)
	for i := range 50 {
		fmt.Fprintf(w, "line %d\n", i)
	}
	if err := f.h.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.h.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	// Close has waited for them (WaitGroup); a goroutine that called Done
	// may still be returning for a moment, so they get a deadline to vanish.
	buf := make([]byte, 1<<20)
	for deadline := time.Now().Add(2 * time.Second); ; {
		stacks := string(buf[:runtime.Stack(buf, true)])
		var left []string
		for _, fn := range []string{"logs.(*subscription).pump", "logs.(*fileSink).mill"} {
			if strings.Contains(stacks, fn) {
				left = append(left, fn)
			}
		}
		if len(left) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%v still running 2 s after Close", left)
		}
		time.Sleep(time.Millisecond) // polling the runtime for goroutine exit
	}
	// Writers still reach the console and ring after Close.
	io.WriteString(w, "after close\n")
	if !strings.Contains(f.console.String(), "api-1 | after close\n") {
		t.Error("console dead after Close")
	}
}

func TestIsTerminalOnPTY(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("uses /dev/ptmx")
	}
	ptmx, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		t.Skip(err)
	}
	defer ptmx.Close()
	t.Setenv("NO_COLOR", "")
	t.Setenv("TERM", "xterm")
	if !ColorFor(ptmx) {
		t.Error("a pty is not seen as a terminal")
	}
	t.Setenv("NO_COLOR", "1")
	if ColorFor(ptmx) {
		t.Error("NO_COLOR ignored on a terminal")
	}
	t.Setenv("NO_COLOR", "")
	t.Setenv("TERM", "dumb")
	if ColorFor(ptmx) {
		t.Error("TERM=dumb ignored")
	}
}

func BenchmarkCopyToFile(b *testing.B) {
	h := NewHub(io.Discard, HubOptions{})
	defer h.Close()
	cfg := logsCfg(filepath.Join(b.TempDir(), "api.log"))
	cfg.Rotate = config.Rotate{MaxSize: 8 << 20, MaxFiles: 2}
	h.Configure("api", cfg)
	var data bytes.Buffer
	for i := range 10000 {
		fmt.Fprintf(&data, "2024-05-06 INFO request %d served in 3ms path=/api/v1/things\n", i)
	}
	b.SetBytes(int64(data.Len()))
	b.ReportAllocs()
	for b.Loop() {
		h.Copy("api", 1, StreamStdout, bytes.NewReader(data.Bytes()))
	}
}
