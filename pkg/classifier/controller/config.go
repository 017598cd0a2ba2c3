package controller

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/likewise-dev/likewise/pkg/apis"
	"github.com/likewise-dev/likewise/pkg/classifier"
)

// Defaults of Config and of the likewise classifier command's flags.
const (
	DefaultSelector           = apis.LabelClassify + "=" + apis.ClassifyEnabled
	DefaultCredentialsSecret  = "likewise-monitor"
	DefaultDatabase           = "postgres"
	DefaultPort               = 5432
	DefaultInterval           = 15 * time.Second
	DefaultQueryTimeout       = 5 * time.Second
	DefaultMaxBackoff         = 5 * time.Minute
	DefaultWorkers            = 4
	DefaultCredentialsRefresh = time.Minute
)

// Limits checked by Validate.
const (
	MaxWorkers = 100
	// MinCredentialsRefresh and MaxCredentialsRefresh bound CredentialsRefresh: not a GET per
	// sample, not a stale password for hours.
	MinCredentialsRefresh = time.Second
	MaxCredentialsRefresh = time.Hour
	// attemptTimeouts is an attempt's deadline in QueryTimeouts: connecting may take one, the
	// queries of detection and the sample together the other.
	attemptTimeouts = 2
	// minSamplesPerWindow: a window needs at least two samples to measure an interval in it.
	minSamplesPerWindow = 2
)

// Config configures the controller. Validate checks it; New calls Validate.
type Config struct {
	// Selector picks the database pods to classify.
	Selector labels.Selector
	// Namespace limits the controller to one namespace; "" watches every namespace.
	Namespace string
	// DefaultCredentialsSecret is the Secret, in each pod's namespace, read when the pod names
	// none (annotation likewise.dev/postgres-credentials-secret).
	DefaultCredentialsSecret string
	// DefaultDatabase is sampled when neither the pod's annotation nor the Secret names one.
	DefaultDatabase string
	// DefaultPort is PostgreSQL's port on the pod's IP unless the pod's annotation says otherwise.
	DefaultPort int32
	// DefaultServerName, when set, gives the TLS server name of a pod that has no
	// likewise.dev/postgres-server-name annotation (a preset knows its operator's certificates).
	DefaultServerName func(*corev1.Pod) string
	// Interval is the time between two samples of one database.
	Interval time.Duration
	// QueryTimeout bounds connecting and every query (also the session's statement_timeout), and
	// each attempt as a whole (reading the Secrets, connecting, detecting, sampling) gets twice
	// it, on the client: a server that never answers cannot hold a worker longer.
	QueryTimeout time.Duration
	// MaxBackoff is the longest wait before sampling a failing database again; waits double from
	// Interval.
	MaxBackoff time.Duration
	// Workers is how many databases are sampled at once. At most half of them (at least one)
	// attempt databases whose last attempt failed, so that failing ones cannot hold every worker.
	Workers int
	// CredentialsRefresh is how old a Secret read may be: each Secret is read again (one GET,
	// whatever the pods that share it) when a pod is sampled after this, and a database whose
	// Secret changed connects again with it. 0 means DefaultCredentialsRefresh.
	CredentialsRefresh time.Duration
	// Classifier configures each database's classifier (window, windows to switch, dwell...).
	Classifier classifier.Config
}

// Validate checks c; each error names its field.
func (c Config) Validate() error {
	var errs []error
	if c.Selector == nil || c.Selector.Empty() {
		errs = append(errs, errors.New("selector: must select some pods (an empty selector would sample every pod)"))
	}
	if c.DefaultCredentialsSecret == "" {
		errs = append(errs, errors.New("defaultCredentialsSecret: must not be empty"))
	}
	if c.DefaultDatabase == "" {
		errs = append(errs, errors.New("defaultDatabase: must not be empty"))
	}
	if c.DefaultPort < 1 || c.DefaultPort > 65535 {
		errs = append(errs, fmt.Errorf("defaultPort: %d must be from 1 to 65535", c.DefaultPort))
	}
	if c.Interval <= 0 {
		errs = append(errs, fmt.Errorf("interval: %v must be positive", c.Interval))
	}
	if c.QueryTimeout <= 0 {
		errs = append(errs, fmt.Errorf("queryTimeout: %v must be positive", c.QueryTimeout))
	}
	if c.MaxBackoff < c.Interval {
		errs = append(errs, fmt.Errorf("maxBackoff: %v must be at least interval (%v)", c.MaxBackoff, c.Interval))
	}
	if c.Workers < 1 || c.Workers > MaxWorkers {
		errs = append(errs, fmt.Errorf("workers: %d must be from 1 to %d", c.Workers, MaxWorkers))
	}
	if c.CredentialsRefresh != 0 && (c.CredentialsRefresh < MinCredentialsRefresh || c.CredentialsRefresh > MaxCredentialsRefresh) {
		errs = append(errs, fmt.Errorf("credentialsRefresh: %v must be from %v to %v", c.CredentialsRefresh, MinCredentialsRefresh, MaxCredentialsRefresh))
	}
	cc := c.Classifier.Default()
	if err := cc.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("classifier: %w", err))
	} else if c.Interval > 0 && cc.Window < minSamplesPerWindow*c.Interval {
		errs = append(errs, fmt.Errorf("classifier: window %v must be at least %d intervals (%v)", cc.Window, minSamplesPerWindow, minSamplesPerWindow*c.Interval))
	}
	return errors.Join(errs...)
}

// AttemptTimeout bounds one attempt at a database, on the client.
func (c Config) AttemptTimeout() time.Duration { return attemptTimeouts * c.QueryTimeout }

func (c Config) credentialsRefresh() time.Duration {
	if c.CredentialsRefresh == 0 {
		return DefaultCredentialsRefresh
	}
	return c.CredentialsRefresh
}

// failingWorkers is how many workers may attempt failing databases at once.
func (c Config) failingWorkers() int { return max(1, c.Workers/2) }

// Preset is how one PostgreSQL operator labels its database pods.
type Preset struct {
	// Name is the --preset value.
	Name string
	// Operator names the operator, for help texts.
	Operator string
	// Selector selects the operator's PostgreSQL instance pods, primaries and replicas, and
	// nothing else it runs (poolers, backup jobs).
	Selector string
	// ServerName, when not nil, is the TLS server name the operator's certificates carry.
	ServerName func(*corev1.Pod) string
}

// Labels the presets read. They are the operators' keys, not likewise's.
const (
	cnpgClusterLabel = "cnpg.io/cluster"
	cnpgPodRoleLabel = "cnpg.io/podRole"
)

// Presets, by name.
var Presets = []Preset{
	{
		Name:     "cnpg",
		Operator: "CloudNativePG",
		// podRole=instance leaves out PgBouncer poolers and the init and join jobs' pods.
		Selector: cnpgClusterLabel + "," + cnpgPodRoleLabel + "=instance",
		// CloudNativePG's server certificate names the cluster's services; the -rw service is
		// in it whatever the instance's role.
		ServerName: func(pod *corev1.Pod) string {
			if c := pod.Labels[cnpgClusterLabel]; c != "" {
				return c + "-rw"
			}
			return ""
		},
	},
	{
		Name:     "zalando",
		Operator: "Zalando postgres-operator",
		// The operator's default cluster_labels; its connection poolers are application=db-connection-pooler.
		Selector: "application=spilo",
	},
	{
		Name:     "crunchy",
		Operator: "Crunchy Data PGO v5",
		// data=postgres: instance pods, not the pgBackRest repository host (data=pgbackrest) or PgBouncer.
		Selector: "postgres-operator.crunchydata.com/cluster,postgres-operator.crunchydata.com/data=postgres",
	},
}

// PresetNames lists the presets' names.
func PresetNames() []string {
	var names []string
	for _, p := range Presets {
		names = append(names, p.Name)
	}
	return names
}

// LookupPreset returns the preset of that name, or an error listing the valid ones.
func LookupPreset(name string) (Preset, error) {
	i := slices.IndexFunc(Presets, func(p Preset) bool { return p.Name == name })
	if i < 0 {
		return Preset{}, fmt.Errorf("unknown preset %q: supported values: %s", name, strings.Join(PresetNames(), ", "))
	}
	return Presets[i], nil
}
