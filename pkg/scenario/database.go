package scenario

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/likewise-dev/likewise/pkg/apis"
	"github.com/likewise-dev/likewise/pkg/classifier/controller"
	"github.com/likewise-dev/likewise/pkg/pgserver"
)

// Workload is what a database pod's PostgreSQL runs.
type Workload string

const (
	// WorkloadOLTP: pgbench's TPC-B-like transactions at a low rate.
	WorkloadOLTP Workload = apis.WorkloadOLTP
	// WorkloadOLAP: a TPC-H-style query (Q1, a scan of 400 000 line items with aggregation, about
	// 0.2 s here) every Pause.
	WorkloadOLAP Workload = apis.WorkloadOLAP
	// WorkloadMixed: both at once, WorkloadOLTP's transactions beside WorkloadOLAP's queries.
	WorkloadMixed Workload = apis.WorkloadMixed
	// WorkloadIdle: nothing.
	WorkloadIdle Workload = "idle"
)

// DatabaseName is the database every scenario server gets and loads.
const DatabaseName = "app"

// Database is a real PostgreSQL server on a database pod's IP, standing in for the container
// KWOK does not run, with a light, rate-limited load.
type Database struct {
	Pod      *corev1.Pod
	Server   *pgserver.Server
	Workload Workload
	loads    []*pgserver.Load
	tables   map[Workload]bool // the workloads whose tables exist
	owned    bool              // StartDatabase started the server: Close stops it
}

// DatabaseOptions say what a Database runs.
type DatabaseOptions struct {
	Workload Workload
	// Rate is the OLTP load's transactions per second (default 20).
	Rate float64
	// Pause is the OLAP load's pause between queries (default 1s).
	Pause time.Duration
	// ScriptDir is where the OLAP load's pgbench scripts are written (required for OLAP and
	// mixed).
	ScriptDir string
	// Port is the port on the pod's IP (default 5432, PostgreSQL's and the classifier's default).
	Port int
	// TLSNames, when set, turn TLS on with a certificate for the pod's IP and these DNS names,
	// signed by the server's own CA (Server.CAPEM).
	TLSNames []string
	// NoStatStatements leaves pg_stat_statements out of shared_preload_libraries.
	NoStatStatements bool
	// ServerOptions are passed on to pgserver.Start after the options above (a setting such as
	// log_connections, say).
	ServerOptions []pgserver.Option
}

// StartDatabase starts PostgreSQL 15 on pod's IP (a loopback address from its node's podCIDR),
// creates database app with what the workload needs, and starts the load.
func StartDatabase(ctx context.Context, pod *corev1.Pod, opts DatabaseOptions) (*Database, error) {
	ip, err := netip.ParseAddr(pod.Status.PodIP)
	if err != nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("pod %s/%s: IP %q is not a loopback address: no test traffic leaves 127.0.0.0/8", pod.Namespace, pod.Name, pod.Status.PodIP)
	}
	port := opts.Port
	if port == 0 {
		port = controller.DefaultPort
	}
	pgOpts := []pgserver.Option{pgserver.WithListenAddress(ip.String()), pgserver.WithPort(port),
		pgserver.WithStatStatements(!opts.NoStatStatements)}
	if len(opts.TLSNames) > 0 {
		pgOpts = append(pgOpts, pgserver.WithTLS(opts.TLSNames...))
	}
	pgOpts = append(pgOpts, opts.ServerOptions...)
	s, err := pgserver.Start(ctx, pgOpts...)
	if err != nil {
		return nil, fmt.Errorf("pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	d, err := AttachDatabase(ctx, pod, s, opts)
	if err != nil {
		s.Close()
		return nil, err
	}
	d.owned = true
	return d, nil
}

// AttachDatabase creates database app on a server that runs already (the local runtime's, for
// pod: see pkg/podruntime) with what the workload needs, and starts the load. Close stops the
// load and leaves the server to its owner.
func AttachDatabase(ctx context.Context, pod *corev1.Pod, s *pgserver.Server, opts DatabaseOptions) (*Database, error) {
	d := &Database{Pod: pod, Server: s, tables: map[Workload]bool{}}
	if err := s.CreateDatabase(ctx, DatabaseName); err != nil {
		return nil, fmt.Errorf("pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	if err := d.start(ctx, opts); err != nil {
		_ = d.StopLoad()
		return nil, fmt.Errorf("pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	return d, nil
}

// Switch stops the database's load and starts opts' instead, creating its tables if the
// database has none yet: an application whose use of its database changes.
func (d *Database) Switch(ctx context.Context, opts DatabaseOptions) error {
	if err := d.StopLoad(); err != nil {
		return fmt.Errorf("pod %s/%s: load of %s: %w", d.Pod.Namespace, d.Pod.Name, d.Workload, err)
	}
	if err := d.start(ctx, opts); err != nil {
		return fmt.Errorf("pod %s/%s: %w", d.Pod.Namespace, d.Pod.Name, err)
	}
	return nil
}

func (d *Database) start(ctx context.Context, opts DatabaseOptions) error {
	s := d.Server
	var loads []pgserver.Pgbench
	switch opts.Workload {
	case WorkloadOLTP, WorkloadOLAP, WorkloadMixed:
		if opts.Workload != WorkloadOLAP {
			l, err := d.oltp(ctx, opts)
			if err != nil {
				return err
			}
			loads = append(loads, l)
		}
		if opts.Workload != WorkloadOLTP {
			l, err := d.olap(ctx, opts)
			if err != nil {
				return err
			}
			loads = append(loads, l)
		}
	case WorkloadIdle:
	default:
		return fmt.Errorf("workload %q: must be %s, %s, %s or %s", opts.Workload, WorkloadOLTP, WorkloadOLAP, WorkloadMixed, WorkloadIdle)
	}
	// Vacuum now rather than have autovacuum show up as load later.
	if _, err := s.Psql(ctx, DatabaseName, "VACUUM ANALYZE"); err != nil {
		return err
	}
	d.Workload = opts.Workload
	for _, load := range loads {
		l, err := s.StartPgbench(context.WithoutCancel(ctx), load)
		if err != nil {
			_ = d.StopLoad()
			return err
		}
		d.loads = append(d.loads, l)
	}
	return nil
}

// oltp creates pgbench's tables, once, and returns the OLTP load.
func (d *Database) oltp(ctx context.Context, opts DatabaseOptions) (pgserver.Pgbench, error) {
	if !d.tables[WorkloadOLTP] {
		if err := d.Server.PgbenchInit(ctx, DatabaseName, 1); err != nil {
			return pgserver.Pgbench{}, err
		}
		d.tables[WorkloadOLTP] = true
	}
	rate := opts.Rate
	if rate == 0 {
		rate = 20
	}
	return pgserver.Pgbench{DB: DatabaseName, Builtins: []string{pgserver.TPCBLike}, Clients: 1, Rate: rate}, nil
}

// olap creates the TPC-H-style tables, once, and returns the OLAP load.
func (d *Database) olap(ctx context.Context, opts DatabaseOptions) (pgserver.Pgbench, error) {
	if opts.ScriptDir == "" {
		return pgserver.Pgbench{}, fmt.Errorf("a database running %s needs a ScriptDir for its pgbench scripts", opts.Workload)
	}
	if !d.tables[WorkloadOLAP] {
		if err := d.Server.CreateTPCH(ctx, DatabaseName, pgserver.TPCHSmall); err != nil {
			return pgserver.Pgbench{}, err
		}
		d.tables[WorkloadOLAP] = true
	}
	pause := opts.Pause
	if pause == 0 {
		pause = time.Second
	}
	scripts, err := pgserver.WriteTPCHScripts(opts.ScriptDir, pause, "q1")
	if err != nil {
		return pgserver.Pgbench{}, err
	}
	return pgserver.Pgbench{DB: DatabaseName, Scripts: scripts, Clients: 1, NoVacuum: true}, nil
}

// LoadErr is the load's error if pgbench failed (nil while it runs or after Close).
func (d *Database) LoadErr() error {
	var errs []error
	for _, l := range d.loads {
		errs = append(errs, l.Err())
	}
	return errors.Join(errs...)
}

// StopLoad stops the load, if any, and returns pgbench's error if it had failed.
func (d *Database) StopLoad() error {
	var errs []error
	for _, l := range d.loads {
		errs = append(errs, l.Stop())
	}
	d.loads = nil
	return errors.Join(errs...)
}

// Close stops the load and, if StartDatabase started the server, the server, and removes its
// files.
func (d *Database) Close() {
	_ = d.StopLoad()
	if d.owned {
		d.Server.Close()
	}
}

// SetMonitorPassword sets the monitoring role's password, so that databases of one namespace
// can share one Secret, as the classifier's default Secret name expects.
func (d *Database) SetMonitorPassword(ctx context.Context, password string) error {
	_, err := d.Server.Psql(ctx, pgserver.DefaultDB, fmt.Sprintf("ALTER ROLE %s PASSWORD '%s'", pgserver.MonitorRole, password))
	return err
}

// MonitorSecret is the classifier's credentials Secret for a database: the monitoring role
// (pg_read_all_stats, read-only; see docs/classifier.md) with its password, and the database.
func (d *Database) MonitorSecret(name string) *corev1.Secret {
	return MonitorSecret(d.Pod.Namespace, name, d.Server.MonitorPassword())
}

// MonitorSecret is a credentials Secret for the scenario servers' monitoring role with password.
func MonitorSecret(namespace, name, password string) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace},
		StringData: map[string]string{
			controller.SecretKeyUsername: pgserver.MonitorRole,
			controller.SecretKeyPassword: password,
			controller.SecretKeyDatabase: DatabaseName,
		},
	}
}

// WaitRunning waits until every named pod in ns runs with an IP (KWOK's pod-ready stage) and
// returns them by name.
func WaitRunning(ctx context.Context, client kubernetes.Interface, ns string, names []string, timeout time.Duration) (map[string]*corev1.Pod, error) {
	pods := map[string]*corev1.Pod{}
	var pending []string
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		pending = nil
		for _, name := range names {
			if p, ok := pods[name]; ok && p.Status.PodIP != "" {
				continue
			}
			p, err := client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				pending = append(pending, name) // its controller has yet to create it
				continue
			}
			if err != nil {
				return false, err
			}
			if p.Status.Phase != corev1.PodRunning || p.Status.PodIP == "" {
				pending = append(pending, name)
				continue
			}
			pods[name] = p
		}
		return len(pending) == 0, nil
	})
	if err != nil {
		return pods, fmt.Errorf("waiting for pods %v in %s to run with an IP: %w", pending, ns, err)
	}
	return pods, nil
}

// StudyDatabase is one of the study's database pods, created without a type, and the workload
// its PostgreSQL runs: the classifier has to find the type out.
type StudyDatabase struct {
	Pod      Pod
	Workload Workload
}

// StudyDatabases are the study's twelve database pods, db-01 to db-12, unlabelled but opted in
// to classification (likewise.dev/classify=true), each requesting one CPU and 2Gi, with
// workloads in StudyPods' order (two OLTP, two OLAP, ...), so that a resource-balancing
// scheduler puts three of each on each of two nodes.
func StudyDatabases() []StudyDatabase {
	var out []StudyDatabase
	for i, p := range StudyPods() {
		out = append(out, StudyDatabase{
			Pod: Pod{
				Name:   fmt.Sprintf("db-%02d", i+1),
				Labels: map[string]string{apis.LabelClassify: apis.ClassifyEnabled},
				CPU:    p.CPU, Memory: p.Memory,
			},
			Workload: Workload(p.Type),
		})
	}
	return out
}
