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
	bin, err := alertmanagerBinary(o.alertmanager)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp(o.parentDir, "aiuptime-alertmanager-")
	if err != nil {
		return nil, fmt.Errorf("alertmanager dir: %w", err)
	}
	a := &Alertmanager{o: o, dir: dir, notify: make(chan struct{})}
	hookAddr, err := a.serveWebhook()
	if err != nil {
		return a, err
	}
	cfgPath := filepath.Join(dir, "alertmanager.yml")
	if err := writeAlertmanagerConfig(ctx, cfgPath, "http://"+hookAddr+"/hook"); err != nil {
		return a, err
	}
	a.proc, a.url, err = launch(ctx, "alertmanager", bin, dir, o.startTimeout, func(listen string) []string {
		return []string{
			"--config.file=" + cfgPath,
			"--storage.path=" + filepath.Join(dir, "data"),
			"--web.listen-address=" + listen,
			"--cluster.listen-address=", // no gossip: a single instance
			"--log.level=warn",
		}
	})
	if err != nil {
		return a, err
	}
	o.log.Info("alertmanager started", "url", a.url, "webhook", hookAddr)
	return a, nil
}

// alertmanagerBinary finds Alertmanager: the option's path, else Debian's
// prometheus-alertmanager, else alertmanager.
func alertmanagerBinary(override string) (string, error) {
	bin := override
	if bin == "" {
		if _, err := exec.LookPath("prometheus-alertmanager"); err == nil {
			bin = "prometheus-alertmanager"
		} else {
			bin = "alertmanager"
		}
	}
	return lookBinary(bin, "", "prometheus-alertmanager")
}

// serveWebhook serves the receiver on a free 127.0.0.1 port and returns
// its address.
func (a *Alertmanager) serveWebhook() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("webhook listener: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /hook", a.hook)
	a.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = a.srv.Serve(l) }()
	return l.Addr().String(), nil
}

// writeAlertmanagerConfig writes the configuration routing every alert to
// the webhook at hookURL, and checks it with amtool when it is installed.
func writeAlertmanagerConfig(ctx context.Context, path, hookURL string) error {
	cfg := map[string]any{
		"route": map[string]any{
			"receiver": "harness", "group_by": []string{"alertname", "service"},
			"group_wait": "0s", "group_interval": "1s", "repeat_interval": "1h",
		},
		"receivers": []any{map[string]any{
			"name": "harness",
			"webhook_configs": []any{map[string]any{
				"url": hookURL, "send_resolved": true,
			}},
		}},
	}
	b, err := yaml.Marshal(cfg)
	if err != nil {
		return fmt.Errorf("marshal alertmanager config: %w", err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return fmt.Errorf("write alertmanager config: %w", err)
	}
	if amtool, err := exec.LookPath("amtool"); err == nil {
		if out, err := runTool(ctx, amtool, "check-config", path); errors.Is(err, errToolRejected) {
			return fmt.Errorf("%w: amtool check-config: %s", ErrRejected, firstLines(out, 4))
		} else if err != nil {
			return err
		}
	}
	return nil
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
