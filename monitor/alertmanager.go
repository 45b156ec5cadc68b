package monitor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/goccy/go-yaml"
)

// Notification is one alert of a webhook notification Alertmanager sent to
// the harness's receiver.
type Notification struct {
	Alertname string
	// Status is "firing" or "resolved".
	Status     string
	Labels     map[string]string
	StartsAt   time.Time
	EndsAt     time.Time
	ReceivedAt time.Time
}

// Alertmanager is a running Alertmanager host process whose only receiver is
// a webhook served by the harness on 127.0.0.1, so a test can prove that an
// alert travelled Prometheus -> Alertmanager -> receiver.
type Alertmanager struct {
	o        *options
	url      string
	dir      string
	proc     *proc
	srv      *http.Server
	mu       sync.Mutex
	notes    []Notification
	notify   chan struct{} // closed and replaced on every notification
	closeMu  sync.Once
	closeErr error
}

// amWebhook is the webhook payload (version 4) Alertmanager posts.
type amWebhook struct {
	Status string `json:"status"`
	Alerts []struct {
		Status   string            `json:"status"`
		Labels   map[string]string `json:"labels"`
		StartsAt time.Time         `json:"startsAt"`
		EndsAt   time.Time         `json:"endsAt"`
	} `json:"alerts"`
}

// StartAlertmanager starts the webhook receiver and Alertmanager (grouping
// by alertname and service, group_wait 0s, group_interval 1s,
// send_resolved), checked with amtool when it is installed. Pass its URL to
// StartPrometheus with WithAlertmanagerURL. On error a non-nil result must
// still be closed.
func StartAlertmanager(ctx context.Context, opts ...Option) (*Alertmanager, error) {
	o, err := buildOptions(opts)
	if err != nil {
		return nil, err
	}
	bin := o.alertmanager
	if bin == "" {
		if _, err := exec.LookPath("prometheus-alertmanager"); err == nil {
			bin = "prometheus-alertmanager"
		} else {
			bin = "alertmanager"
		}
	}
	bin, err = lookBinary(bin, "", "prometheus-alertmanager")
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp(o.parentDir, "aiuptime-alertmanager-")
	if err != nil {
		return nil, fmt.Errorf("alertmanager dir: %w", err)
	}
	a := &Alertmanager{o: o, dir: dir, notify: make(chan struct{})}

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return a, fmt.Errorf("webhook listener: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /hook", a.hook)
	a.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = a.srv.Serve(l) }()

	cfg := map[string]any{
		"route": map[string]any{
			"receiver": "harness", "group_by": []string{"alertname", "service"},
			"group_wait": "0s", "group_interval": "1s", "repeat_interval": "1h",
		},
		"receivers": []any{map[string]any{
			"name": "harness",
			"webhook_configs": []any{map[string]any{
				"url": "http://" + l.Addr().String() + "/hook", "send_resolved": true,
			}},
		}},
	}
	b, err := yaml.Marshal(cfg)
	if err != nil {
		return a, fmt.Errorf("marshal alertmanager config: %w", err)
	}
	cfgPath := filepath.Join(dir, "alertmanager.yml")
	if err := os.WriteFile(cfgPath, b, 0o644); err != nil {
		return a, fmt.Errorf("write alertmanager config: %w", err)
	}
	if amtool, err := exec.LookPath("amtool"); err == nil {
		if out, err := runTool(ctx, amtool, "check-config", cfgPath); errors.Is(err, errToolRejected) {
			return a, fmt.Errorf("%w: amtool check-config: %s", ErrRejected, firstLines(out, 4))
		} else if err != nil {
			return a, err
		}
	}
	port, err := freePort()
	if err != nil {
		return a, err
	}
	a.url = "http://127.0.0.1:" + strconv.Itoa(port)
	args := []string{
		"--config.file=" + cfgPath,
		"--storage.path=" + filepath.Join(dir, "data"),
		"--web.listen-address=127.0.0.1:" + strconv.Itoa(port),
		"--cluster.listen-address=", // no gossip: a single instance
		"--log.level=warn",
	}
	a.proc, err = startProc("alertmanager", bin, args, dir)
	if err != nil {
		return a, err
	}
	if err := awaitReady(ctx, a.proc, a.url+"/-/ready", o.startTimeout); err != nil {
		return a, err
	}
	o.log.Info("alertmanager started", "url", a.url, "webhook", l.Addr().String())
	return a, nil
}

func (a *Alertmanager) hook(w http.ResponseWriter, r *http.Request) {
	var msg amWebhook
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&msg); err != nil {
		http.Error(w, "bad payload", http.StatusBadRequest)
		return
	}
	now := time.Now()
	a.mu.Lock()
	for _, al := range msg.Alerts {
		a.notes = append(a.notes, Notification{Alertname: al.Labels["alertname"], Status: al.Status,
			Labels: al.Labels, StartsAt: al.StartsAt, EndsAt: al.EndsAt, ReceivedAt: now})
	}
	close(a.notify)
	a.notify = make(chan struct{})
	a.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

// URL is Alertmanager's base URL (http://127.0.0.1:PORT).
func (a *Alertmanager) URL() string { return a.url }

// Notifications returns every notification received so far, in order.
func (a *Alertmanager) Notifications() []Notification {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]Notification(nil), a.notes...)
}

// AwaitNotification waits until the receiver got a notification for
// alertname with the given status ("firing" or "resolved"; empty: any), and
// returns the first such. Notifications received before the call count.
func (a *Alertmanager) AwaitNotification(ctx context.Context, alertname, status string, within time.Duration) (Notification, error) {
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	for {
		a.mu.Lock()
		for _, n := range a.notes {
			if n.Alertname == alertname && (status == "" || n.Status == status) {
				a.mu.Unlock()
				return n, nil
			}
		}
		ch := a.notify
		a.mu.Unlock()
		select {
		case <-ctx.Done():
			return Notification{}, fmt.Errorf("notification %s %s within %s: %w", alertname, status, within, ErrTimeout)
		case <-ch:
		}
	}
}

// Close stops Alertmanager and the receiver and removes the directory.
// Idempotent.
func (a *Alertmanager) Close() error {
	a.closeMu.Do(func() {
		var errs []error
		if a.proc != nil {
			errs = append(errs, a.proc.stop(DefaultStopGrace))
		}
		if a.srv != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			errs = append(errs, a.srv.Shutdown(ctx))
			cancel()
		}
		errs = append(errs, os.RemoveAll(a.dir))
		a.closeErr = errors.Join(errs...)
	})
	return a.closeErr
}
