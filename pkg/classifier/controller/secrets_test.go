package controller

import (
	"sync"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/klog/v2/ktesting"
	testingclock "k8s.io/utils/clock/testing"
)

// TestSecretCache: many pods asking for one Secret make one GET per refresh period; a change is
// seen once the period has passed; a Secret deleted is an error at once; an API server that
// fails otherwise leaves the copy read before in use and is asked again at the next call.
func TestSecretCache(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	clk := testingclock.NewFakeClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	client := fake.NewClientset(secret("likewise-monitor", "1", map[string]string{SecretKeyPassword: "one"}))
	var (
		mu       sync.Mutex
		gets     int
		failWith error
	)
	fail := func(err error) { mu.Lock(); failWith = err; mu.Unlock() }
	client.PrependReactor("get", "secrets", func(k8stesting.Action) (bool, runtime.Object, error) {
		mu.Lock()
		defer mu.Unlock()
		gets++
		return failWith != nil, nil, failWith
	})
	c := newSecretCache(client, clk, time.Minute)
	read := func(wantVersion string, wantGets int) {
		t.Helper()
		s, err := c.get(ctx, "db", "likewise-monitor")
		if err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		defer mu.Unlock()
		if s.ResourceVersion != wantVersion || gets != wantGets {
			t.Fatalf("version %q after %d GETs, want %q after %d", s.ResourceVersion, gets, wantVersion, wantGets)
		}
	}
	for range 10 {
		read("1", 1) // ten pods, one GET
	}
	changed := secret("likewise-monitor", "2", map[string]string{SecretKeyPassword: "two"})
	if _, err := client.CoreV1().Secrets("db").Update(ctx, changed, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	clk.Step(59 * time.Second)
	read("1", 1) // not yet
	clk.Step(time.Second)
	read("2", 2)

	// The API server fails: the copy read before, and a GET at every call until one works.
	fail(apierrors.NewServiceUnavailable("restarting"))
	clk.Step(time.Minute)
	read("2", 3)
	read("2", 4)
	fail(nil)
	read("2", 5)
	read("2", 5)

	// Deleted (or withheld): an error, and no copy kept.
	fail(apierrors.NewNotFound(schema.GroupResource{Resource: "secrets"}, "likewise-monitor"))
	clk.Step(time.Minute)
	if _, err := c.get(ctx, "db", "likewise-monitor"); !apierrors.IsNotFound(err) {
		t.Fatalf("deleted Secret: error %v, want NotFound", err)
	}
	fail(apierrors.NewServiceUnavailable("restarting"))
	if _, err := c.get(ctx, "db", "likewise-monitor"); err == nil {
		t.Fatalf("a Secret read as deleted came back from the cache")
	}

	// Secrets no pod asks for any more are dropped.
	clk.Step(unusedFor * time.Minute)
	fail(nil)
	if _, err := c.get(ctx, "db", "other"); !apierrors.IsNotFound(err) {
		t.Fatalf("Secret other: error %v, want NotFound", err)
	}
	c.mu.Lock()
	_, kept := c.entries[types.NamespacedName{Namespace: "db", Name: "likewise-monitor"}]
	c.mu.Unlock()
	if kept {
		t.Errorf("a Secret unused for %d refresh periods is still cached", unusedFor)
	}
}
