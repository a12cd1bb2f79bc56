package tests

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/png"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// browser is a headless Chromium driven over the DevTools protocol
// (chromedp), started as the machine notes require: no sandbox (root), no
// GPU, no QUIC, no background or component traffic, a fresh profile.
type browser struct {
	t     *testing.T
	ctx   context.Context
	base  string // http://127.0.0.1:<metrics port>
	shots string // where screenshots go: the test's temp dir
}

func chromiumPath(t testing.TB) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("chromium not found: install the Debian packages `apt-get install chromium chromium-driver`")
	return ""
}

func newBrowser(t *testing.T, base string) *browser {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1100, 800),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	// The first call starts the browser, which lives as long as that
	// call's context: no timeout on it.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return &browser{t: t, ctx: ctx, base: base, shots: t.TempDir()}
}

// do runs actions with a bound.
func (b *browser) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.t.Fatalf("browser: %s: %v", what, err)
	}
}

// get runs one action that returns a value, with a bound.
func get[T any](b *browser, what string, a chromedp.Action[T]) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		b.t.Fatalf("browser: %s: %v", what, err)
	}
	return v
}

func evalJS[T any](b *browser, js string) T {
	b.t.Helper()
	return get(b, "eval "+js, chromedp.Evaluate[T](js))
}

// open loads path and waits for its main element.
func (b *browser) open(path string) {
	b.t.Helper()
	b.do("open "+path, chromedp.Navigate(b.base+path), chromedp.WaitReady(chromedp.CSS("main")))
}

func (b *browser) location() string {
	b.t.Helper()
	return evalJS[string](b, `location.pathname + location.search`)
}

// clickAndWait clicks sel and waits until a new page whose location holds
// want has loaded (the old page's elements must not answer for the new).
func (b *browser) clickAndWait(sel, want string) {
	b.t.Helper()
	b.do("click "+sel, chromedp.Click(chromedp.CSS(sel)))
	deadline := time.Now().Add(15 * time.Second)
	for {
		st := evalJS[string](b, `location.pathname + location.search + '|' + document.readyState`)
		if loc, state, _ := strings.Cut(st, "|"); strings.Contains(loc, want) && state == "complete" {
			return
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("after clicking %s the page is at %s, want %q", sel, st, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (b *browser) html() string {
	b.t.Helper()
	return get(b, "read the page", chromedp.OuterHTML(chromedp.CSS("html")))
}

func (b *browser) cookies() []*network.Cookie {
	b.t.Helper()
	return get(b, "cookies", func(ctx context.Context, t *chromedp.Target) ([]*network.Cookie, error) {
		r, err := cdp.Call(ctx, t, network.GetCookies, network.GetCookiesParams{})
		return r.Cookies, err
	})
}

// shot saves a full-page screenshot as <name>.png in the test's temp dir
// (and in $FLOWGATE_DASHBOARD_SHOTS when set) and fails when the page is
// blank: fewer than 1% of its pixels differ from the background.
func (b *browser) shot(name string) {
	b.t.Helper()
	buf := get(b, "screenshot "+name, chromedp.FullScreenshot(100))
	path := filepath.Join(b.shots, name+".png")
	if err := os.WriteFile(path, buf, 0o644); err != nil {
		b.t.Fatal(err)
	}
	if dir := os.Getenv("FLOWGATE_DASHBOARD_SHOTS"); dir != "" {
		os.WriteFile(filepath.Join(dir, name+".png"), buf, 0o644)
	}
	img, err := png.Decode(bytes.NewReader(buf))
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	if n, total := inkPixels(img); n*100 < total {
		b.t.Errorf("screenshot %s (%s) is blank: %d of %d pixels differ from the background", name, path, n, total)
	}
}

// inkPixels counts pixels that differ from the bottom-right one (the page
// background under the footer).
func inkPixels(img image.Image) (n, total int) {
	r := img.Bounds()
	br, bg, bb, _ := img.At(r.Max.X-1, r.Max.Y-1).RGBA()
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			cr, cg, cb, _ := img.At(x, y).RGBA()
			if cr != br || cg != bg || cb != bb {
				n++
			}
		}
	}
	return n, r.Dx() * r.Dy()
}

// httpGet fetches a dashboard URL outside the browser (cookie optional).
func httpGet(t testing.TB, url string, cookie *http.Cookie) (int, string) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cookie != nil {
		req.AddCookie(cookie)
	}
	client := &http.Client{Timeout: 15 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return resp.StatusCode, string(body)
}

// noSecretIn fails when body holds any of secrets.
func noSecretIn(t testing.TB, what, body string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if s != "" && strings.Contains(body, s) {
			t.Errorf("%s shows the secret %q", what, s)
		}
	}
}

func fmtRows(rows [][]string) string {
	var b strings.Builder
	for _, r := range rows {
		fmt.Fprintln(&b, strings.Join(r, " | "))
	}
	return b.String()
}
