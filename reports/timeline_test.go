package reports

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// crowded returns the sample report with its fault windows replaced by
// faults starting at the given offsets (seconds), each lasting span.
func crowded(offsets []float64, span float64, kind, target string) *Report {
	r := sampleReport("")
	r.Timeline.Faults = nil
	for i, o := range offsets {
		start := r.StartedAt.Add(time.Duration(o * float64(time.Second)))
		r.Timeline.Faults = append(r.Timeline.Faults, FaultWindow{Step: fmt.Sprintf("fault %d", i), Kind: kind, Target: target,
			Start: start, End: start.Add(time.Duration(span * float64(time.Second)))})
	}
	return r
}

var labelCases = []struct {
	name    string
	offsets []float64
	span    float64
}{
	{"adjacent", []float64{10, 10.2}, 0.2},
	{"same start", []float64{30, 30, 30}, 5},
	{"a row of restarts", []float64{40, 40.1, 41, 42, 43, 44}, 0.5},
	{"at the right edge", []float64{58, 59, 59.9}, 0.1},
	{"apart", []float64{5, 25, 45}, 2},
}

// TestFaultLabelsNeverOverlap checks the lane layout by its own measure:
// labels of a lane are apart by labelGap, all inside the chart's width,
// and the charts start below the last lane.
func TestFaultLabelsNeverOverlap(t *testing.T) {
	for _, c := range labelCases {
		t.Run(c.name, func(t *testing.T) {
			r := crowded(c.offsets, c.span, "container-restart", "model-0")
			labels := newTimelineScale(r).layoutLabels(r.Timeline.Faults)
			for i, a := range labels {
				if a.x < 0 || a.x+a.w > svgW-padR+1e-9 {
					t.Errorf("label %d [%.1f, %.1f] leaves the chart", i, a.x, a.x+a.w)
				}
				for j, b := range labels[i+1:] {
					if a.lane == b.lane && a.x < b.x+b.w+labelGap && b.x < a.x+a.w+labelGap {
						t.Errorf("labels %d and %d overlap in lane %d: [%.1f, %.1f] and [%.1f, %.1f]", i, i+1+j, a.lane, a.x, a.x+a.w, b.x, b.x+b.w)
					}
				}
			}
			if c.name == "apart" && laneCount(labels) != 1 {
				t.Errorf("faults far apart use %d lanes, want 1", laneCount(labels))
			}
			if c.name == "adjacent" && laneCount(labels) != 2 {
				t.Errorf("adjacent faults use %d lanes, want 2", laneCount(labels))
			}
		})
	}
}

// bboxScript records the rendered box of every fault label and the top of
// the charts into the DOM, for --dump-dom to carry out.
const bboxScript = `<script>
const boxes = [...document.querySelectorAll('#timeline .fault-label')].map(e => { const b = e.getBBox(); return [b.x, b.y, b.width, b.height, e.textContent]; });
const chartTop = Math.min(...[...document.querySelectorAll('#timeline rect.fault')].map(e => e.getBBox().y));
const pre = document.createElement('pre'); pre.id = 'boxes'; pre.textContent = JSON.stringify({boxes, chartTop});
document.body.appendChild(pre);
</script>`

// TestFaultLabelsNeverOverlapInChromium measures the labels as Chromium
// lays them out (real glyph widths, not the layout's estimate): no two
// label boxes intersect and none reaches into the charts.
func TestFaultLabelsNeverOverlapInChromium(t *testing.T) {
	bin := findChromium(t)
	for _, c := range labelCases {
		t.Run(c.name, func(t *testing.T) {
			page, err := HTML(crowded(c.offsets, c.span, "network-partition", "model-1-with-a-long-name"))
			if err != nil {
				t.Fatal(err)
			}
			boxes, chartTop := labelBoxes(t, bin, strings.Replace(string(page), "</body>", bboxScript+"</body>", 1))
			if len(boxes) != len(c.offsets) {
				t.Fatalf("%d label boxes, want %d", len(boxes), len(c.offsets))
			}
			for i, a := range boxes {
				if a.y+a.h > chartTop+0.5 {
					t.Errorf("label %q reaches into the chart (bottom %.1f > chart top %.1f)", a.text, a.y+a.h, chartTop)
				}
				for _, b := range boxes[i+1:] {
					if a.x < b.x+b.w && b.x < a.x+a.w && a.y < b.y+b.h && b.y < a.y+a.h {
						t.Errorf("labels %q %+v and %q %+v overlap", a.text, a, b.text, b)
					}
				}
			}
		})
	}
}

type box struct {
	x, y, w, h float64
	text       string
}

// labelBoxes renders page in Chromium and returns the label boxes and the
// top of the charts that bboxScript recorded.
func labelBoxes(t *testing.T, bin, page string) ([]box, float64) {
	t.Helper()
	dir := t.TempDir()
	p := filepath.Join(dir, "page.html")
	if err := os.WriteFile(p, []byte(page), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	args := append([]string{}, chromiumFlags...)
	args[len(args)-1] += t.TempDir()
	out, err := exec.CommandContext(ctx, bin, append(args, "--dump-dom", "file://"+p)...).Output()
	if err != nil {
		t.Fatalf("chromium --dump-dom: %v", err)
	}
	m := regexp.MustCompile(`<pre id="boxes">([^<]*)</pre>`).FindSubmatch(out)
	if m == nil {
		t.Fatal("the page did not record the label boxes")
	}
	var rec struct {
		Boxes    [][]any `json:"boxes"`
		ChartTop float64 `json:"chartTop"`
	}
	if err := json.Unmarshal([]byte(strings.ReplaceAll(string(m[1]), "&quot;", `"`)), &rec); err != nil {
		t.Fatalf("boxes %s: %v", m[1], err)
	}
	var boxes []box
	for _, b := range rec.Boxes {
		boxes = append(boxes, box{b[0].(float64), b[1].(float64), b[2].(float64), b[3].(float64), fmt.Sprint(b[4])})
	}
	return boxes, rec.ChartTop
}
