package store

import (
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
)

// readOnlyChildEnv names the directory TestSQLiteAfterReadOnlyPeriod's child
// works in (the child runs as an unprivileged user when the test is root).
const readOnlyChildEnv = "GATEHOUSE_TEST_READONLY_DIR"

// TestSQLiteAfterReadOnlyPeriod: an instance (re)started while the database
// file was read-only makes SQLite create the -shm file with the database
// file's mode, read-only; once the file is writable again, every later
// start opened that -shm read-only and refused all writes. Open now gives
// the -wal and -shm files their owner's write permission back when the
// database file has it.
//
// Permission bits do not bind root, so as root the test runs its scenario
// in a child process as the user nobody.
func TestSQLiteAfterReadOnlyPeriod(t *testing.T) {
	if dir := os.Getenv(readOnlyChildEnv); dir != "" {
		readOnlyPeriod(t, dir)
		return
	}
	if os.Geteuid() != 0 {
		readOnlyPeriod(t, t.TempDir())
		return
	}
	const nobody = 65534
	dir, err := os.MkdirTemp("", "gatehouse-readonly-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "store.test")
	if err := copyFile(os.Args[0], bin); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{dir, bin} {
		if err := os.Chown(p, nobody, nobody); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(bin, "-test.run=^TestSQLiteAfterReadOnlyPeriod$", "-test.v")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), readOnlyChildEnv+"="+dir, "HOME="+dir, "TMPDIR="+dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the scenario as the user nobody failed: %v\n%s", err, out)
	}
}

func readOnlyPeriod(t *testing.T, dir string) {
	path := filepath.Join(dir, "g.db")
	url := "sqlite://" + path
	ctx := context.Background()
	st, err := Open(url)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Migrate(); err != nil {
		t.Fatal(err)
	}
	st.Close()
	for _, suffix := range []string{"-wal", "-shm"} {
		os.Remove(path + suffix)
	}

	// The read-only period: a start then can read, not write.
	if err := os.Chmod(path, 0o400); err != nil {
		t.Fatal(err)
	}
	ro, err := Open(url)
	if err != nil {
		t.Fatalf("open while read-only: %v", err)
	}
	if err := ro.Ready(ctx); err == nil {
		t.Errorf("Ready while the file is read-only = nil, want an error")
	} else if cause, ok := Unavailable(err); !ok {
		t.Errorf("Ready while the file is read-only = %v (%q), want an unavailable error", err, cause)
	}
	ro.Close()

	// Writable again: the next start must take writes.
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}
	rw, err := Open(url)
	if err != nil {
		t.Fatalf("open after the read-only period: %v", err)
	}
	defer rw.Close()
	if err := rw.Ready(ctx); err != nil {
		t.Errorf("Ready after the read-only period: %v, want nil", err)
	}
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
