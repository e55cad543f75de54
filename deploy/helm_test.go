package deploy

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// HelmVersion is the helm the chart is linted with (make tools installs it
// into bin/tools; see helmBinary).
const HelmVersion = "v4.3.2"

// helmBinary returns helm HelmVersion: $PIXIU_HELM, else bin/tools (where
// `make tools` installs it), else it installs it there now (slow once:
// it builds helm from the Go module proxy).
func helmBinary(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("PIXIU_HELM"); p != "" {
		return p
	}
	dir, err := filepath.Abs(filepath.Join("..", "bin", "tools", "helm-"+HelmVersion))
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "helm")
	if _, err := os.Stat(bin); errors.Is(err, os.ErrNotExist) {
		cmd := exec.Command("go", "install", "helm.sh/helm/v4/cmd/helm@"+HelmVersion)
		cmd.Env = append(os.Environ(), "GOBIN="+dir)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go install helm %s: %v\n%s", HelmVersion, err, out)
		}
	}
	// helm built by go install reports only "v4.3": ask the module record.
	out, err := exec.Command("go", "version", "-m", bin).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "\tmod\thelm.sh/helm/v4\t"+HelmVersion+"\t") {
		t.Fatalf("go version -m %s: %v\n%s\nwant helm.sh/helm/v4 %s", bin, err, out, HelmVersion)
	}
	return bin
}

// manifests splits helm template output into objects.
func manifests(t *testing.T, out string) []map[string]any {
	t.Helper()
	var docs []map[string]any
	dec := yaml.NewDecoder(strings.NewReader(out))
	for {
		var d map[string]any
		err := dec.Decode(&d)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("helm template output: %v\n%s", err, out)
		}
		if d != nil {
			docs = append(docs, d)
		}
	}
	return docs
}

// dig follows keys (string) and list indexes (int) through a decoded document.
func dig(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, _ := v.(map[string]any)
			v = m[k]
		case int:
			l, _ := v.([]any)
			if k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}

// TestHelmChart: helm lint --strict passes; helm template renders a
// cluster with /ready and /health probes, a grace period covering preStop
// and the drain, a PodDisruptionBudget, a non-root read-only pod, the Redis
// URL from a Secret; it refuses several replicas without Redis or a shared
// store; one replica keeps SQLite on a volume.
func TestHelmChart(t *testing.T) {
	t.Parallel()
	if runtime.GOOS != "linux" {
		t.Fatalf("run on linux")
	}
	helm := helmBinary(t)
	cluster := []string{"--set", "redis.url=redis://:pw@redis:6379/0", "--set", "store.dsn=postgres://pixiu:pw@postgres:5432/pixiu"}

	cmd := exec.Command(helm, append([]string{"lint", "--strict", "pixiu"}, cluster...)...)
	cmd.Dir = "helm"
	if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "1 chart(s) linted, 0 chart(s) failed") {
		t.Fatalf("helm lint --strict: %v\n%s", err, out)
	}

	out, err := run(t, helm, "template", "push", "helm/pixiu", "--set", "redis.url=x")
	if err == nil || !strings.Contains(out, "replicaCount > 1 needs store.dsn") {
		t.Fatalf("helm template of 3 replicas without a store: %v\n%s", err, out)
	}
	out, err = run(t, helm, "template", "push", "helm/pixiu")
	if err == nil || !strings.Contains(out, "replicaCount > 1 needs redis.url") {
		t.Fatalf("helm template of 3 replicas without Redis: %v\n%s", err, out)
	}

	out, err = run(t, helm, append([]string{"template", "push", "helm/pixiu"}, cluster...)...)
	if err != nil {
		t.Fatalf("helm template: %v\n%s", err, out)
	}
	kinds := map[string]map[string]any{}
	for _, d := range manifests(t, out) {
		kinds[fmt.Sprint(d["kind"])] = d
	}
	for _, k := range []string{"Deployment", "Service", "PodDisruptionBudget", "Secret"} {
		if kinds[k] == nil {
			t.Fatalf("helm template rendered no %s:\n%s", k, out)
		}
	}
	if kinds["PersistentVolumeClaim"] != nil {
		t.Errorf("a PVC with three replicas sharing PostgreSQL")
	}
	dep := kinds["Deployment"]
	pod := dig(dep, "spec", "template", "spec")
	c := dig(pod, "containers", 0)
	if p := dig(c, "readinessProbe", "httpGet", "path"); p != "/ready" {
		t.Errorf("readinessProbe path %v", p)
	}
	if p := dig(c, "livenessProbe", "httpGet", "path"); p != "/health" {
		t.Errorf("livenessProbe path %v", p)
	}
	preStop, _ := dig(c, "lifecycle", "preStop", "sleep", "seconds").(int)
	grace, _ := dig(pod, "terminationGracePeriodSeconds").(int)
	if need := preStop + int((defaultDrain(t)+stopAfterDrain)/time.Second); preStop <= 0 || grace <= need {
		t.Errorf("terminationGracePeriodSeconds %d, preStop sleep %d: the grace must exceed preStop + drain_window + 2 s = %d", grace, preStop, need)
	}
	if dig(pod, "securityContext", "runAsNonRoot") != true || dig(pod, "securityContext", "runAsUser") != 65532 ||
		dig(c, "securityContext", "readOnlyRootFilesystem") != true || dig(c, "securityContext", "allowPrivilegeEscalation") != false {
		t.Errorf("pod not non-root with a read-only root: %v / %v", dig(pod, "securityContext"), dig(c, "securityContext"))
	}
	if dig(kinds["PodDisruptionBudget"], "spec", "maxUnavailable") != 1 {
		t.Errorf("PDB %v", dig(kinds["PodDisruptionBudget"], "spec"))
	}
	env := map[string]string{}
	var fromSecret []string
	for _, e := range dig(c, "env").([]any) {
		name := fmt.Sprint(dig(e, "name"))
		if v, ok := dig(e, "value").(string); ok {
			env[name] = v
		} else if dig(e, "valueFrom", "secretKeyRef") != nil {
			fromSecret = append(fromSecret, name)
			env[name] = map[string]string{"PIXIU_CLUSTER": "redis://r:6379/0", "PIXIU_STORE_DSN": "postgres://p/d"}[name]
		} else {
			env[name] = "pod-name"
		}
	}
	if !slices.Contains(fromSecret, "PIXIU_CLUSTER") || !slices.Contains(fromSecret, "PIXIU_STORE_DSN") {
		t.Errorf("PIXIU_CLUSTER and PIXIU_STORE_DSN must come from a Secret; from secrets: %v", fromSecret)
	}
	if env["PIXIU_CLUSTER_DRAIN_WINDOW"] != "10s" {
		t.Errorf("PIXIU_CLUSTER_DRAIN_WINDOW=%q", env["PIXIU_CLUSTER_DRAIN_WINDOW"])
	}
	checkEnv(t, "the Helm chart's pod", env)
	if a := dig(dep, "spec", "template", "metadata", "annotations", "pixiu.io/connection-target"); a == nil {
		t.Errorf("the pod does not say its connection target")
	}

	// TLS from a Secret: the files mounted, the probes over HTTPS.
	out, err = run(t, helm, append([]string{"template", "push", "helm/pixiu", "--set", "tls.secretName=pixiu-tls"}, cluster...)...)
	if err != nil {
		t.Fatalf("helm template tls.secretName: %v\n%s", err, out)
	}
	for _, d := range manifests(t, out) {
		if d["kind"] != "Deployment" {
			continue
		}
		c := dig(d, "spec", "template", "spec", "containers", 0)
		if dig(c, "readinessProbe", "httpGet", "scheme") != "HTTPS" || dig(c, "livenessProbe", "httpGet", "scheme") != "HTTPS" ||
			!strings.Contains(fmt.Sprint(dig(c, "env")), "PIXIU_TLS_CERT_FILE") ||
			dig(d, "spec", "template", "spec", "volumes", 0, "secret", "secretName") != "pixiu-tls" {
			t.Errorf("tls.secretName: want the Secret mounted, PIXIU_TLS_* set and HTTPS probes:\n%s", out)
		}
	}

	// One replica without a shared store: SQLite on a volume, Recreate.
	out, err = run(t, helm, "template", "push", "helm/pixiu", "--set", "replicaCount=1")
	if err != nil {
		t.Fatalf("helm template replicaCount=1: %v\n%s", err, out)
	}
	kinds = map[string]map[string]any{}
	for _, d := range manifests(t, out) {
		kinds[fmt.Sprint(d["kind"])] = d
	}
	if kinds["PersistentVolumeClaim"] == nil || dig(kinds["Deployment"], "spec", "strategy", "type") != "Recreate" ||
		dig(kinds["Deployment"], "spec", "template", "spec", "volumes", 0, "persistentVolumeClaim") == nil {
		t.Errorf("one replica: want a PVC on /data and the Recreate strategy:\n%s", out)
	}
}
