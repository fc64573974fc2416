// Package browsertest starts a headless Chromium for tests of the live
// view and drives it with chromedp. A machine without Chromium fails the
// test with a message that says how to install it: the browser tests are
// never skipped. It is imported by tests only.
package browsertest
