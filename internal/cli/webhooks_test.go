package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pixiu-io/pixiu/internal/webhook"
)

func TestWebhooksCommands(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := filepath.Join(t.TempDir(), "data", "pixiu.db")
	out, err := webhook.OpenSQLite(store, nil)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	var batches []*webhook.Batch
	for _, id := range []string{"B1", "B2", "B3"} {
		batches = append(batches, &webhook.Batch{ID: id, AppID: "app-id", URL: "http://127.0.0.1:9/hook", Events: 1,
			Created: now, NextAt: now, Body: []byte(`{"time_ms":1,"events":[{"name":"channel_occupied","channel":"c"}]}`)})
	}
	if err := out.Seal(ctx, batches, nil); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"B1", "B2"} {
		if err := out.Settle(ctx, id, webhook.Result{State: webhook.Dead, Attempts: 7, Err: "status 500"}); err != nil {
			t.Fatal(err)
		}
	}
	out.Close()
	run := func(args ...string) (int, string, string) {
		var stdout, stderr bytes.Buffer
		code := Main(ctx, append([]string{"webhooks"}, args...), func(string) string { return "" }, &stdout, &stderr)
		return code, stdout.String(), stderr.String()
	}

	code, got, errs := run("status", "--store", store)
	if code != 0 || !strings.Contains(got, "pending batches: 1") || !strings.Contains(got, "dead letters:    2") {
		t.Fatalf("status: %d %q %q", code, got, errs)
	}
	code, got, errs = run("dead-letters", "--store", store)
	if code != 0 || !strings.Contains(got, "B1") || !strings.Contains(got, "B2") || strings.Contains(got, "B3") ||
		!strings.Contains(got, "status 500") {
		t.Fatalf("dead-letters: %d %q %q", code, got, errs)
	}
	code, got, _ = run("dead-letters", "--store", store, "--json", "--limit", "1")
	var row struct {
		ID, Body string
		Attempts int
	}
	if err := json.Unmarshal([]byte(got), &row); code != 0 || err != nil || row.ID != "B1" || row.Attempts != 7 ||
		!strings.Contains(row.Body, "channel_occupied") {
		t.Fatalf("dead-letters --json: %d %q %v", code, got, err)
	}
	if code, _, _ := run("replay", "--store", store); code != 2 {
		t.Fatalf("replay without ids or --all: exit %d", code)
	}
	if code, got, errs = run("replay", "--store", store, "B2", "nope"); code != 1 || !strings.Contains(got, "replayed 1") {
		t.Fatalf("replay B2 nope: %d %q %q", code, got, errs)
	}
	if code, got, _ = run("replay", "--store", store, "--all"); code != 0 || !strings.Contains(got, "replayed 1") {
		t.Fatalf("replay --all: %d %q", code, got)
	}
	if code, got, _ = run("status", "--store", store); code != 0 || !strings.Contains(got, "pending batches: 3") {
		t.Fatalf("status after replay: %q", got)
	}
}

func TestWebhooksPurge(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := filepath.Join(t.TempDir(), "pixiu.db")
	out, err := webhook.OpenSQLite(store, nil)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	var batches []*webhook.Batch
	for _, b := range []struct{ id, app string }{{"A1", "a"}, {"A2", "a"}, {"B1", "b"}, {"P1", "a"}} {
		batches = append(batches, &webhook.Batch{ID: b.id, AppID: b.app, URL: "http://127.0.0.1:9/hook", Events: 1,
			Created: now, NextAt: now, Body: []byte(`{"time_ms":1,"events":[]}`)})
	}
	if err := out.Seal(ctx, batches, nil); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"A1", "A2", "B1"} {
		if err := out.Settle(ctx, id, webhook.Result{State: webhook.Dead, Attempts: 7, Err: "status 500"}); err != nil {
			t.Fatal(err)
		}
	}
	out.Close()
	run := func(args ...string) (int, string, string) {
		var stdout, stderr bytes.Buffer
		code := Main(ctx, append([]string{"webhooks"}, args...), func(string) string { return "" }, &stdout, &stderr)
		return code, stdout.String(), stderr.String()
	}
	purged := func(args ...string) int {
		t.Helper()
		code, got, errs := run(append([]string{"purge", "--store", store, "--json"}, args...)...)
		var v struct{ Purged *int }
		if err := json.Unmarshal([]byte(got), &v); code != 0 || err != nil || v.Purged == nil {
			t.Fatalf("purge %v: %d %q %q %v", args, code, got, errs, err)
		}
		return *v.Purged
	}
	if code, _, errs := run("purge", "--store", store, "--older-than", "-1h"); code != 2 || !strings.Contains(errs, "negative") {
		t.Fatalf("negative --older-than: %d %q", code, errs)
	}
	if code, _, errs := run("purge", "--store", store, "--older-than", "soon"); code != 2 || !strings.Contains(errs, "older-than") {
		t.Fatalf("bad --older-than: %d %q", code, errs)
	}
	if n := purged("--older-than", "1h"); n != 0 {
		t.Fatalf("purged %d letters dead for less than an hour", n)
	}
	if n := purged("--app", "b"); n != 1 {
		t.Fatalf("purge --app b: %d, want 1", n)
	}
	code, got, _ := run("status", "--store", store, "--json")
	var st map[string]int
	if err := json.Unmarshal([]byte(got), &st); code != 0 || err != nil || st["dead_letters"] != 2 || st["pending_batches"] != 1 {
		t.Fatalf("status --json: %d %q %v", code, got, err)
	}
	if code, got, _ := run("purge", "--store", store); code != 0 || got != "purged 2 dead letters\n" {
		t.Fatalf("purge: %d %q", code, got)
	}
	if code, got, _ := run("status", "--store", store); code != 0 || !strings.Contains(got, "dead letters:    0") ||
		!strings.Contains(got, "pending batches: 1") {
		t.Fatalf("status after purge (the pending batch must stay): %q", got)
	}
}
