package procfs

import (
	"os/exec"
	"testing"
	"time"
)

func TestIdentAlive(t *testing.T) {
	self, err := Self()
	if err != nil {
		t.Fatal(err)
	}
	child := exec.Command("true")
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	dead, err := IdentOf(child.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	zombie := exec.Command("true")
	if err := zombie.Start(); err != nil {
		t.Fatal(err)
	}
	defer zombie.Wait()
	zid, err := IdentOf(zombie.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	for s, _ := State(zid.PID); s != "Z"; s, _ = State(zid.PID) {
		time.Sleep(time.Millisecond) // exited, not reaped: a zombie is what a SIGKILLed orphan leaves
	}
	if err := child.Wait(); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		id   Ident
		want bool
	}{
		{"this process", self, true},
		{"exited child", dead, false},
		{"zombie (exited, not reaped)", zid, false},
		{"zombie, legacy record", Ident{PID: zid.PID}, false},
		{"same pid, other start (recycled pid)", Ident{PID: self.PID, Start: self.Start + 1, Boot: self.Boot}, false},
		{"same pid and start, other boot", Ident{PID: self.PID, Start: self.Start, Boot: "00000000-0000-0000-0000-000000000000"}, false},
		{"legacy record: pid only, alive", Ident{PID: self.PID}, true},
		{"legacy record: pid only, gone", Ident{PID: dead.PID}, false},
		{"no pid", Ident{}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.id.Alive(); got != tc.want {
				t.Errorf("%v.Alive() = %v, want %v", tc.id, got, tc.want)
			}
		})
	}
}

func TestIdentLabelRoundTrip(t *testing.T) {
	self, err := Self()
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseLabel(self.Label())
	if err != nil || got != self {
		t.Fatalf("ParseLabel(%q) = %+v, %v; want %+v", self.Label(), got, err, self)
	}
	for _, bad := range []string{"", "12", "x.1.b", "0.1.b", "12.x.b"} {
		if _, err := ParseLabel(bad); err == nil {
			t.Errorf("ParseLabel(%q) accepted", bad)
		}
	}
}
