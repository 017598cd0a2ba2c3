package controller

import (
	"context"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"
)

// secretCache reads Secrets by name with GET, each at most once per refresh period whatever the
// number of pods that share it. The classifier may only get the Secrets it is granted by name:
// no list or watch, so a change is noticed by reading again, not by being told.
type secretCache struct {
	client  kubernetes.Interface
	clock   clock.Clock
	refresh time.Duration

	mu       sync.Mutex
	entries  map[types.NamespacedName]*secretEntry
	prunedAt time.Time
}

type secretEntry struct {
	mu     sync.Mutex // held while reading: pods sharing the Secret wait for one GET
	secret *corev1.Secret
	readAt time.Time
	usedAt time.Time // under secretCache.mu
}

// unusedFor is how long, in refresh periods, a Secret no pod asked for stays cached.
const unusedFor = 3

func newSecretCache(client kubernetes.Interface, clk clock.Clock, refresh time.Duration) *secretCache {
	return &secretCache{client: client, clock: clk, refresh: refresh, entries: map[types.NamespacedName]*secretEntry{}}
}

// get returns the Secret as read at most one refresh period ago. A Secret that is gone or no
// longer readable (NotFound, Forbidden) is an error at once; any other failure to read it again
// (the API server restarting, a timeout) returns the copy read before, if any, and reads again at
// the next call: a blip of the API server does not stop sampling.
func (c *secretCache) get(ctx context.Context, namespace, name string) (*corev1.Secret, error) {
	key := types.NamespacedName{Namespace: namespace, Name: name}
	now := c.clock.Now()
	c.mu.Lock()
	e := c.entries[key]
	if e == nil {
		e = &secretEntry{}
		c.entries[key] = e
	}
	e.usedAt = now
	if now.Sub(c.prunedAt) >= c.refresh {
		c.prunedAt = now
		for k, other := range c.entries {
			if now.Sub(other.usedAt) >= unusedFor*c.refresh {
				delete(c.entries, k)
			}
		}
	}
	c.mu.Unlock()

	e.mu.Lock()
	defer e.mu.Unlock()
	if e.secret != nil && c.clock.Since(e.readAt) < c.refresh {
		return e.secret, nil
	}
	s, err := c.client.CoreV1().Secrets(namespace).Get(ctx, name, metav1.GetOptions{})
	switch {
	case err == nil:
		e.secret, e.readAt = s, c.clock.Now()
		return s, nil
	case e.secret != nil && !apierrors.IsNotFound(err) && !apierrors.IsForbidden(err):
		klog.FromContext(ctx).V(2).Info("Could not read a Secret again; using the copy read before", "secret", key, "readAt", e.readAt, "err", err)
		return e.secret, nil
	default:
		e.secret = nil
		return nil, fmt.Errorf("reading secret %s/%s: %w", namespace, name, err)
	}
}
