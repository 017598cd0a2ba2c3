package podruntime

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"

	"github.com/likewise-dev/likewise/pkg/nodecgroup"
)

func TestImageName(t *testing.T) {
	for ref, want := range map[string]string{
		"postgres":                                    "postgres",
		"postgres:15":                                 "postgres",
		"library/postgres:15.4-alpine":                "postgres",
		"registry.local:5000/lib/postgres:15":         "postgres",
		"postgres@sha256:0123abcd":                    "postgres",
		"registry.local:5000/postgres:15@sha256:0123": "postgres",
		"bitnami/postgresql:15":                       "postgresql",
		"my-postgres":                                 "my-postgres",
		"":                                            "",
	} {
		if got := imageName(ref); got != want {
			t.Errorf("imageName(%q) = %q, want %q", ref, got, want)
		}
	}
}

// pod builds a running postgres pod on node-1 with IP 127.9.1.5; edits change it.
func pod(edits ...func(*corev1.Pod)) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "db-0", UID: "0b7d6f0e-1111-2222-3333-444455556666"},
		Spec: corev1.PodSpec{
			NodeName:   "node-1",
			Containers: []corev1.Container{{Name: "postgres", Image: "postgres:15"}},
		},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "127.9.1.5"},
	}
	for _, e := range edits {
		e(p)
	}
	return p
}

func TestWant(t *testing.T) {
	for _, tc := range []struct {
		name        string
		pod         *corev1.Pod
		want        bool
		wantFailure string // a substring; "" for none
	}{
		{name: "running postgres pod", pod: pod(), want: true},
		{name: "deleted", pod: nil},
		{name: "other image", pod: pod(func(p *corev1.Pod) { p.Spec.Containers[0].Image = "nginx" })},
		{name: "postgres in a second container only", pod: pod(func(p *corev1.Pod) {
			p.Spec.Containers = []corev1.Container{{Name: "app", Image: "app"}, {Name: "db", Image: "postgres"}}
		})},
		{name: "unbound", pod: pod(func(p *corev1.Pod) { p.Spec.NodeName = "" })},
		{name: "pending", pod: pod(func(p *corev1.Pod) { p.Status.Phase = corev1.PodPending })},
		{name: "no IP yet", pod: pod(func(p *corev1.Pod) { p.Status.PodIP = "" })},
		{name: "being deleted", pod: pod(func(p *corev1.Pod) { p.DeletionTimestamp = ptr.To(metav1.Now()) })},
		{name: "non-loopback IP", pod: pod(func(p *corev1.Pod) { p.Status.PodIP = "10.244.1.5" }), wantFailure: "not an IPv4 loopback"},
		{name: "IPv6 loopback", pod: pod(func(p *corev1.Pod) { p.Status.PodIP = "::1" }), wantFailure: "not an IPv4 loopback"},
		{name: "garbage IP", pod: pod(func(p *corev1.Pod) { p.Status.PodIP = "x" }), wantFailure: "not an IPv4 loopback"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, failure := want(tc.pod)
			if got != tc.want {
				t.Errorf("want = %v, expected %v", got, tc.want)
			}
			if (failure == "") != (tc.wantFailure == "") || !strings.Contains(failure, tc.wantFailure) {
				t.Errorf("failure = %q, want one containing %q", failure, tc.wantFailure)
			}
		})
	}
}

func TestIdentity(t *testing.T) {
	type result struct {
		Name      string
		Ephemeral bool
		Err       string
	}
	claim := func(name string) corev1.Volume {
		return corev1.Volume{Name: "data", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: name}}}
	}
	owned := func(kind string) func(*corev1.Pod) {
		return func(p *corev1.Pod) {
			p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: kind, Name: "db", UID: "u"}}
		}
	}
	for _, tc := range []struct {
		name string
		pod  *corev1.Pod
		want result
	}{
		{name: "StatefulSet pod: its name, even with a claim", pod: pod(owned("StatefulSet"), func(p *corev1.Pod) { p.Spec.Volumes = []corev1.Volume{claim("data-db-0")} }),
			want: result{Name: "db-0"}},
		{name: "first claim", pod: pod(owned("ReplicaSet"), func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}, claim("first"), claim("second")}
		}), want: result{Name: "pvc-first"}},
		{name: "neither: the UID, ephemeral", pod: pod(owned("ReplicaSet")), want: result{Name: "0b7d6f0e-1111-2222-3333-444455556666", Ephemeral: true}},
		{name: "bad claim name", pod: pod(func(p *corev1.Pod) { p.Spec.Volumes = []corev1.Volume{claim("../etc")} }),
			want: result{Err: `spec.volumes[0].persistentVolumeClaim.claimName "pvc-../etc"`}},
		{name: "no UID", pod: pod(func(p *corev1.Pod) { p.UID = "" }), want: result{Err: `metadata.uid ""`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name, ephemeral, err := identity(tc.pod)
			if (err == nil) != (tc.want.Err == "") || (err != nil && !strings.Contains(err.Error(), tc.want.Err)) {
				t.Fatalf("identity error = %v, want one containing %q", err, tc.want.Err)
			}
			if diff := cmp.Diff(result{Name: tc.want.Name, Ephemeral: tc.want.Ephemeral}, result{Name: name, Ephemeral: ephemeral}); diff != "" {
				t.Errorf("identity (-want,+got):\n%s", diff)
			}
		})
	}
}

func TestCPULimitMilli(t *testing.T) {
	ctr := func(limit string) corev1.Container {
		c := corev1.Container{Name: "c", Image: "postgres"}
		if limit != "" {
			c.Resources.Limits = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(limit)}
		}
		return c
	}
	for _, tc := range []struct {
		name   string
		limits []string
		want   int64
	}{
		{"one container", []string{"1500m"}, 1500},
		{"summed", []string{"1", "250m"}, 1250},
		{"one without a limit: none", []string{"1", ""}, 0},
		{"none", []string{""}, 0},
		{"zero is none", []string{"0"}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := pod(func(p *corev1.Pod) {
				p.Spec.Containers = nil
				for _, l := range tc.limits {
					p.Spec.Containers = append(p.Spec.Containers, ctr(l))
				}
			})
			if got := cpuLimitMilli(p); got != tc.want {
				t.Errorf("cpuLimitMilli = %d, want %d", got, tc.want)
			}
		})
	}
}

func TestAllocatableMilli(t *testing.T) {
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n"}, Status: corev1.NodeStatus{Allocatable: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2")}}}
	if got, err := allocatableMilli(node); err != nil || got != 2000 {
		t.Errorf("allocatableMilli = %d, %v; want 2000", got, err)
	}
	node.Status.Allocatable = nil
	if _, err := allocatableMilli(node); err == nil || !strings.Contains(err.Error(), "node n") {
		t.Errorf("allocatableMilli without cpu: error = %v, want one naming node n", err)
	}
}

func TestNew(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts Options
		want string
	}{
		{"no client", Options{StateDir: t.TempDir(), Cgroups: &nodecgroup.Manager{}}, "Options.Client"},
		{"no cgroups: never unbounded", Options{Client: fake.NewClientset(), StateDir: t.TempDir()}, "Options.Cgroups"},
		{"no state directory", Options{Client: fake.NewClientset(), Cgroups: &nodecgroup.Manager{}}, "Options.StateDir"},
		{"bad port", Options{Client: fake.NewClientset(), Cgroups: &nodecgroup.Manager{}, StateDir: t.TempDir(), Port: 70000}, "Options.Port"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := New(tc.opts); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New: error = %v, want one naming %s", err, tc.want)
			}
		})
	}
}
