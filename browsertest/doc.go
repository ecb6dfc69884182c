// Package browsertest drives Gatehouse's admin page in headless Chromium
// against the built binary. It is a module of its own so that chromedp, which
// only these tests use, stays out of the module graph of every app that
// imports Gatehouse. Run it with
//
//	cd browsertest && GATEHOUSE_TEST_CHROMIUM=$(command -v chromium) go test -race -count=1 ./...
package browsertest
