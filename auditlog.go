package main

import (
	"fmt"
	"io"
	"os"
)

// openAuditLog opens AUDIT_LOG: nil for "", standard output for "stdout",
// else the file, created if missing (mode 0600: the audit names users) and
// appended to. It stays open for the process's life.
func openAuditLog(path string) (io.Writer, error) {
	switch path {
	case "":
		return nil, nil
	case "stdout":
		return os.Stdout, nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("AUDIT_LOG: %w", err)
	}
	return f, nil
}
