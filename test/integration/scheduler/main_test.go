// Package scheduler tests likewise-scheduler end to end against a real control plane: one local
// cluster (etcd, kube-apiserver, kube-controller-manager, KWOK) per test package, and the real
// bin/likewise-scheduler binary running the shipped profiles (database and notebook) next to
// kube-scheduler's default profile, a Required-mode database profile and a notebook profile with
// a user cap (scenario.SchedulerConfig). Each test case makes its own nodes and namespace.
package scheduler

import (
	"context"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/likewise-dev/likewise/pkg/localcluster"
	"github.com/likewise-dev/likewise/pkg/scenario"
)

// Profiles of the scheduler under test.
const (
	profileLikewise = scenario.ProfileLikewise
	profileDefault  = scenario.ProfileDefault
	profileRequired = scenario.ProfileRequired
)

// unschedulableFlush is the scheduler's podMaxInUnschedulablePodsDuration: longer than any
// wait of a test (placeTimeout).
const unschedulableFlush = time.Hour

var cluster *localcluster.Cluster

func client() kubernetes.Interface { return cluster.Client() }

func TestMain(m *testing.M) {
	localcluster.Main(m, localcluster.Options{}, func(c *localcluster.Cluster) error {
		cluster = c
		config, err := scenario.SchedulerConfig(false)
		if err != nil {
			return err
		}
		// Pods rejected by a plugin come back only through its queueing hints within a test's
		// wait: the periodic flush of unschedulable pods is set far beyond any of them, so a
		// missing hint fails a test instead of being covered up by the flush.
		return c.StartScheduler(context.Background(), config, "", "--pod-max-in-unschedulable-pods-duration="+unschedulableFlush.String())
	})
}

// keepCase deletes the case k (if made) when the test ends, and fails the test on err, the
// error of making it.
func keepCase(t *testing.T, k *scenario.Case, err error) {
	t.Helper()
	if k != nil {
		t.Cleanup(func() {
			if err := k.Delete(context.Background(), cluster); err != nil {
				t.Logf("cleaning up case %s: %v", k.Name, err)
			}
		})
	}
	if err != nil {
		t.Fatal(err)
	}
}
