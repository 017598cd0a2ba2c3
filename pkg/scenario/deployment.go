package scenario

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/likewise-dev/likewise/pkg/localcluster"
)

// InstallObjects applies every object of objs but the Deployments, which RunDeployments runs as
// processes.
func InstallObjects(ctx context.Context, c *localcluster.Cluster, objs []*unstructured.Unstructured) error {
	a, err := NewApplier(c)
	if err != nil {
		return err
	}
	for _, o := range objs {
		if o.GetKind() == "Deployment" {
			continue
		}
		if err := a.Apply(ctx, o, false); err != nil {
			return err
		}
	}
	return nil
}

// RunDeployments runs each Deployment of objs (rendered manifests of likewise's controllers) as
// a process of the local cluster, as its pod would run: the container's image names the binary
// (bin/likewise; the scheduler is StartScheduler's), its args are used as they are, with $(VAR) expanded
// from its env, the files of its ConfigMap volumes written out and their mount paths pointed
// there, its ServiceAccount's token as its credentials, and its serving flags replaced by a free
// port on 127.0.0.1. One process per Deployment, whatever its replicas. It returns once each
// answers /readyz.
func RunDeployments(ctx context.Context, c *localcluster.Cluster, objs []*unstructured.Unstructured) (map[string]*Running, error) {
	configMaps := map[string]*corev1.ConfigMap{}
	var deployments []*appsv1.Deployment
	for _, o := range objs {
		switch o.GetKind() {
		case "ConfigMap":
			var cm corev1.ConfigMap
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &cm); err != nil {
				return nil, fmt.Errorf("ConfigMap %s: %w", o.GetName(), err)
			}
			configMaps[cm.Namespace+"/"+cm.Name] = &cm
		case "Deployment":
			var d appsv1.Deployment
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &d); err != nil {
				return nil, fmt.Errorf("Deployment %s: %w", o.GetName(), err)
			}
			deployments = append(deployments, &d)
		}
	}
	out := map[string]*Running{}
	for _, d := range deployments {
		r, err := runDeployment(ctx, c, d, configMaps)
		if err != nil {
			return nil, fmt.Errorf("Deployment %s/%s: %w", d.Namespace, d.Name, err)
		}
		out[d.Name] = r
	}
	return out, nil
}

func runDeployment(ctx context.Context, c *localcluster.Cluster, d *appsv1.Deployment, configMaps map[string]*corev1.ConfigMap) (*Running, error) {
	spec := d.Spec.Template.Spec
	if len(spec.Containers) != 1 {
		return nil, fmt.Errorf("%d containers, want 1", len(spec.Containers))
	}
	ctr := spec.Containers[0]
	image := ctr.Image
	if i := strings.LastIndex(image, "/"); i >= 0 {
		image = image[i+1:]
	}
	image, _, _ = strings.Cut(image, ":")
	image, _, _ = strings.Cut(image, "@")
	if image != "likewise" {
		// likewise-scheduler reads its credentials from its config file: StartScheduler runs it.
		return nil, fmt.Errorf("image %s: only likewise's controllers (image likewise) run here", ctr.Image)
	}
	bin, err := localcluster.Binary(image)
	if err != nil {
		return nil, err
	}
	env := map[string]string{}
	for _, e := range ctr.Env {
		switch {
		case e.ValueFrom == nil:
			env[e.Name] = e.Value
		case e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.namespace":
			env[e.Name] = d.Namespace
		case e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.name":
			env[e.Name] = d.Name
		default:
			return nil, fmt.Errorf("env %s: only values and metadata.namespace or metadata.name field refs can run here", e.Name)
		}
	}
	// Mount paths of ConfigMap volumes, and the directory each is written to.
	mounts := map[string]string{}
	for _, m := range ctr.VolumeMounts {
		for _, v := range spec.Volumes {
			if v.Name != m.Name || v.ConfigMap == nil {
				continue
			}
			cm := configMaps[d.Namespace+"/"+v.ConfigMap.Name]
			if cm == nil {
				return nil, fmt.Errorf("volume %s: ConfigMap %s is not among the objects", v.Name, v.ConfigMap.Name)
			}
			dir := filepath.Join(c.StateDir(), "volumes", d.Name, v.Name)
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return nil, err
			}
			for k, data := range cm.Data {
				if err := os.WriteFile(filepath.Join(dir, k), []byte(data), 0o644); err != nil {
					return nil, err
				}
			}
			mounts[m.MountPath] = dir
		}
	}
	var args []string
	for _, a := range ctr.Args {
		for k, v := range env {
			a = strings.ReplaceAll(a, "$("+k+")", v)
		}
		for path, dir := range mounts {
			a = strings.ReplaceAll(a, strings.TrimSuffix(path, "/")+"/", dir+"/")
		}
		if strings.HasPrefix(a, "--secure-port=") || strings.HasPrefix(a, "--bind-address=") {
			continue
		}
		args = append(args, a)
	}
	sa := spec.ServiceAccountName
	if sa == "" {
		sa = "default"
	}
	kubeconfig, err := c.KubeconfigForServiceAccount(ctx, d.Namespace, sa)
	if err != nil {
		return nil, err
	}
	r := &Running{cluster: c}
	err = c.StartComponent(ctx, localcluster.Component{
		Name:   d.Name,
		Binary: bin,
		Args: func(port int) []string {
			r.Port = port
			if len(args) == 0 || strings.HasPrefix(args[0], "-") {
				return append(append([]string{"--kubeconfig=" + kubeconfig}, ServingArgs(port)...), args...)
			}
			// The subcommand first.
			return append(append([]string{args[0], "--kubeconfig=" + kubeconfig}, ServingArgs(port)...), args[1:]...)
		},
		Ready: controllerReady,
	})
	if err != nil {
		return nil, err
	}
	return r, nil
}
