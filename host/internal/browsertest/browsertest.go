// Package browsertest drives the operators' console in a real headless Chromium for
// tests, and checks a page's layout the way an operator sees it: every element inside
// the viewport, no sideways scrolling. A failed check keeps a screenshot of the page as
// a test artifact (go test -artifacts keeps t.ArtifactDir; its path is logged).
//
// With CI=true a missing Chromium fails the test (.ci/run installs it); elsewhere the
// test is skipped without one.
package browsertest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// Chromium finds Debian's chromium (or POOLHOST_CHROMIUM), skipping the test without
// one outside CI.
func Chromium(t testing.TB) string {
	t.Helper()
	for _, p := range []string{os.Getenv("POOLHOST_CHROMIUM"), "/usr/bin/chromium", "chromium"} {
		if p == "" {
			continue
		}
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium is not installed: .ci/run installs it (apt-get install -y chromium)")
	}
	t.Skip("chromium is not installed; install it (apt-get install -y chromium) to run the console's browser tests")
	return ""
}

// Widths the console must fit: a phone (an operator paged at night), a small laptop or
// a half-screen window, and the most common laptop screen.
var Widths = []int64{Narrow, 800, 1366}

// Narrow is a phone's width. Below 600 px a wide table may scroll inside its own box
// (a .wrap or a pre, which the page keeps within the viewport); wider, everything fits.
const Narrow = 375

// Step bounds one browser step, so a missing element fails the test with its selector
// instead of waiting out the whole test. Generous for a loaded CI box.
const Step = time.Minute

// Browser is one headless Chromium with a fresh profile, recording console errors.
type Browser struct {
	T   *testing.T // the (sub)test steps report to; set it in each subtest
	Ctx context.Context

	mu     sync.Mutex
	errors []string
}

// New starts Chromium; it stops when the test ends.
func New(t *testing.T) *Browser {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(Chromium(t)),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("hide-scrollbars", true), // the viewport is the width asked for
		chromedp.WindowSize(1366, 900),
	}
	b := &Browser{T: t}
	// The listener runs in the tab's read loop: record and return.
	record := func(ev any) {
		var msg string
		switch e := ev.(type) {
		case *runtime.EventExceptionThrown:
			msg = "exception: " + e.ExceptionDetails.Text
		case *runtime.EventConsoleAPICalled:
			if e.Type == runtime.ConsoleAPICalledTypeError || e.Type == runtime.ConsoleAPICalledTypeAssert {
				msg = "console." + string(e.Type)
			}
		case *cdplog.EventEntryAdded:
			if e.Entry.Level == cdplog.EntryLevelError {
				msg = "log: " + e.Entry.Text + " " + e.Entry.URL
			}
		}
		if msg != "" {
			b.mu.Lock()
			b.errors = append(b.errors, msg)
			b.mu.Unlock()
		}
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	bctx, cancel := chromedp.NewContext(actx, chromedp.WithListener(record))
	t.Cleanup(func() { cancel(); cancelAlloc() })
	b.Ctx = bctx
	// The first call starts the browser, which lives as long as that call's context:
	// no step timeout on this one.
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return b
}

// Run runs actions within one Step.
func (b *Browser) Run(actions ...chromedp.Action[chromedp.Void]) {
	b.T.Helper()
	ctx, cancel := context.WithTimeout(b.Ctx, Step)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.T.Fatalf("browser: %v", err)
	}
}

// Get runs an action that returns a value.
func Get[T any](b *Browser, a chromedp.Action[T]) T {
	b.T.Helper()
	ctx, cancel := context.WithTimeout(b.Ctx, Step)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		b.T.Fatalf("browser: %v", err)
	}
	return v
}

// Open sets the viewport's width and loads url, waiting for sel to be visible.
func (b *Browser) Open(width int64, url, sel string) {
	b.T.Helper()
	b.Run(chromedp.EmulateViewport(width, 900), chromedp.Navigate(url), chromedp.WaitVisible(chromedp.CSS(sel)))
}

// takeErrors returns and forgets the console errors the page logged so far. Errors
// are reported asynchronously: a round trip to the page flushes them first.
func (b *Browser) takeErrors() []string {
	b.T.Helper()
	Get(b, chromedp.Evaluate[string](`document.readyState`))
	b.mu.Lock()
	defer b.mu.Unlock()
	errs := b.errors
	b.errors = nil
	return errs
}

// Clean fails the test if the page logged any console error (a CSP violation is one).
func (b *Browser) Clean(page string) {
	b.T.Helper()
	if errs := b.takeErrors(); len(errs) > 0 {
		b.T.Errorf("page %s logged console errors: %q", page, errs)
	}
}

// ExpectOnly is Clean for a page answered with an error status: the one console error
// allowed is Chromium's line for that status, and it must be there.
func (b *Browser) ExpectOnly(page string, status int) {
	b.T.Helper()
	errs := b.takeErrors()
	if len(errs) == 0 {
		// Chromium logs a document's 4xx status: seeing it proves the listener works.
		b.T.Errorf("page %s: no console error for its %d status; is the console listener deaf?", page, status)
	}
	for _, e := range errs {
		if !strings.Contains(e, fmt.Sprintf("status of %d", status)) {
			b.T.Errorf("page %s logged an unexpected console error: %q", page, e)
		}
	}
}

// Location is the page's URL.
func (b *Browser) Location() string {
	b.T.Helper()
	return Get(b, chromedp.Location())
}

// Screenshot keeps a full-page PNG in the test's artifact directory and returns its path.
func (b *Browser) Screenshot(name string) string {
	b.T.Helper()
	png := Get(b, chromedp.FullScreenshot(100)) // quality 100 is PNG
	path := filepath.Join(b.T.ArtifactDir(), name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.T.Fatal(err)
	}
	return path
}

// layoutJS lists what an operator would have to scroll sideways for: the page wider
// than the viewport, and every rendered element reaching past either edge (inside a
// scrolling box too: a table cell scrolled out of view is off screen all the same,
// except on a phone, where a wide table scrolls inside its own .wrap box, that box
// within the viewport). Then what an operator could not read or press: text of one
// element drawn over another's, and a button, link, field or menu covered by something
// else (the point at its middle belongs to another element).
const layoutJS = `((allowScroll) => {
  const vw = document.documentElement.clientWidth, out = [];
  const sw = document.documentElement.scrollWidth;
  if (sw > vw + 1) out.push("the page scrolls sideways: " + sw + "px wide in a " + vw + "px viewport");
  const name = e => e.id ? "#" + e.id : e.tagName.toLowerCase() +
    (typeof e.className === "string" && e.className.trim() ? "." + e.className.trim().split(/\s+/).join(".") : "");
  const path = e => { const p = []; for (let x = e; x && x !== document.body; x = x.parentElement) p.unshift(name(x)); return p.join(" > "); };
  const scrollBox = e => { for (let x = e.parentElement; x && x !== document.body; x = x.parentElement) {
    if (x.matches(".wrap, pre") && getComputedStyle(x).overflowX !== "visible") return x; } return null; };
  let outside = 0;
  for (const e of document.body.querySelectorAll("*")) {
    const r = e.getBoundingClientRect();
    if (r.width === 0 && r.height === 0) continue;
    if (getComputedStyle(e).visibility === "hidden") continue;
    if (r.left < -1 || r.right > vw + 1) {
      if (allowScroll && scrollBox(e)) continue;
      out.push(path(e) + " spans " + Math.round(r.left) + "–" + Math.round(r.right) + "px, outside the " + vw + "px viewport");
      if (++outside >= 15) break;
    }
  }
  // Text drawn over text: each text node's line boxes, clipped to the boxes that clip
  // it, against every other node's.
  const clip = n => { let c = {left: -1e9, top: -1e9, right: 1e9, bottom: 1e9};
    for (let x = n.parentElement; x && x !== document.body; x = x.parentElement) {
      const s = getComputedStyle(x);
      if (s.overflowX !== "visible" || s.overflowY !== "visible") { const r = x.getBoundingClientRect();
        c = {left: Math.max(c.left, r.left), top: Math.max(c.top, r.top), right: Math.min(c.right, r.right), bottom: Math.min(c.bottom, r.bottom)}; } }
    return c; };
  const boxes = [];
  const walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walk.nextNode(); n; n = walk.nextNode()) {
    if (!n.textContent.trim() || n.parentElement.closest("svg, title, script, style")) continue;
    const c = clip(n), range = document.createRange();
    range.selectNodeContents(n);
    for (const r of range.getClientRects()) {
      const b = {left: Math.max(r.left, c.left), top: Math.max(r.top, c.top), right: Math.min(r.right, c.right), bottom: Math.min(r.bottom, c.bottom)};
      if (b.right - b.left > 1 && b.bottom - b.top > 1) boxes.push({n, b});
    }
  }
  // Top to bottom: a box is compared with those starting above its bottom only.
  boxes.sort((a, z) => a.b.top - z.b.top);
  let overlaps = 0;
  for (let i = 0; i < boxes.length && overlaps < 10; i++) for (let j = i + 1; j < boxes.length && boxes[j].b.top < boxes[i].b.bottom && overlaps < 10; j++) {
    const a = boxes[i], z = boxes[j];
    if (a.n === z.n) continue;
    const w = Math.min(a.b.right, z.b.right) - Math.max(a.b.left, z.b.left), h = Math.min(a.b.bottom, z.b.bottom) - Math.max(a.b.top, z.b.top);
    if (w > 2 && h > 3) { overlaps++;
      out.push("text overlaps: " + JSON.stringify(a.n.textContent.trim().slice(0, 40)) + " in " + path(a.n.parentElement) +
        " and " + JSON.stringify(z.n.textContent.trim().slice(0, 40)) + " in " + path(z.n.parentElement)); }
  }
  // Controls: each one's middle (a wrapped link's first line's), scrolled into view,
  // is the control itself.
  for (const e of document.querySelectorAll("button, a, input:not([type=hidden]), select")) {
    const r0 = e.getBoundingClientRect();
    if (r0.width === 0 && r0.height === 0) continue;
    const f = e.getClientRects()[0];
    if (f.top < 0 || f.bottom > innerHeight || f.left < 0 || f.right > vw) e.scrollIntoView({block: "center", inline: "nearest"});
    const r = e.getClientRects()[0], x = Math.min(Math.max(r.left + r.width / 2, 0), vw - 1), y = r.top + r.height / 2; // a link's first line
    const hit = document.elementFromPoint(x, y);
    if (!hit || !(hit === e || e.contains(hit) || hit.contains(e) && hit.tagName === "LABEL"))
      out.push(path(e) + " cannot be pressed: its middle shows " + (hit ? path(hit) : "nothing"));
  }
  window.scrollTo(0, 0);
  for (const b of document.querySelectorAll(".wrap, pre")) b.scrollLeft = 0;
  return out;
})`

// Layout checks the page now shown at width: nothing outside the viewport, no
// sideways scrolling, and each extra check (a JavaScript expression returning a list
// of problems) passing. On failure the page's screenshot is kept.
func (b *Browser) Layout(name string, width int64, checks ...string) {
	b.T.Helper()
	problems := b.Problems(width, checks...)
	if len(problems) == 0 {
		return
	}
	shot := b.Screenshot(fmt.Sprintf("%s-%dpx", name, width))
	b.T.Errorf("%s at %d px: the layout is broken (screenshot %s; kept with go test -artifacts):\n  %s",
		name, width, shot, strings.Join(problems, "\n  "))
}

// Problems are what Layout reports of the page now shown at width.
func (b *Browser) Problems(width int64, checks ...string) []string {
	b.T.Helper()
	problems := Get(b, chromedp.Evaluate[[]string](fmt.Sprintf("%s(%t)", layoutJS, width < 600)))
	for _, js := range checks {
		problems = append(problems, Get(b, chromedp.Evaluate[[]string](js))...)
	}
	return problems
}

// Text is the visible text of the element sel selects.
func (b *Browser) Text(sel string) string {
	b.T.Helper()
	return strings.TrimSpace(Get(b, chromedp.Text(chromedp.CSS(sel), chromedp.NodeVisible)))
}

// Submit clicks a form's button and waits for the page the form leads to: the old
// document is marked, and the wait ends when a complete document without the mark is
// there.
func (b *Browser) Submit(sel string) {
	b.T.Helper()
	Get(b, chromedp.Evaluate[bool](`window.__poolhostOld = true`))
	b.Run(chromedp.Click(chromedp.CSS(sel)))
	deadline := time.Now().Add(Step)
	for {
		ctx, cancel := context.WithTimeout(b.Ctx, 10*time.Second)
		done, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.__poolhostOld !== true && document.readyState === "complete"`))
		cancel()
		if err == nil && done {
			return
		}
		if time.Now().After(deadline) {
			b.T.Fatalf("clicking %s led to no new page (last error %v)", sel, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
