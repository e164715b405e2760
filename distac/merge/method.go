package merge

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"gonum.org/v1/gonum/mat"

	"github.com/distac/distac/ffi"
)

// A Method is one merge method, defined once: its name, its math, its
// parameters with their defaults and rules, and its work. The CLI's flags,
// the YAML/JSON config, the output's metadata and the C API all derive from
// these definitions (see Methods and methods.go); adding a method is adding
// one.
type Method struct {
	Name   string
	Doc    string // the math in one line, as `distac merge -h` shows it
	Params []Param
	// check validates the values against the number of tasks, beyond each
	// Param's own rule (nil: nothing more to check).
	check func(v Values, tasks int) error
	// prepare runs the passes over the whole model that the merge pass needs
	// before it starts (TIES: each task's trimming threshold) and returns
	// what chunk reads (nil: none).
	prepare func(m *merger) (any, error)
	// chunk writes delta for a chunk of one tensor from its task vectors:
	// every float tensor but the matrices of a matrix method.
	chunk func(c *chunk) error
	// weights, when set, says chunk is the weighted sum delta = sum_t w_t
	// tau_t with these weights (chunk is then left nil and derived, see
	// init): the merge forms it while it forms the task vectors, one pass
	// over each task's chunk (ffi SubAccumulate), where a chunk function
	// would get the task vectors written out first.
	weights func(v Values, tasks int) []float32
	// matrix, when set, merges every 2-D weight but embeddings as a whole
	// matrix on the host in float64 (the SVD methods); chunk then takes the
	// other tensors.
	matrix func(eng svdEngine, tau taskMatrices, T, m, n int, v Values) (*mat.Dense, error)
	// svd marks the methods whose matrix work is SVDs (see SVDEngine).
	svd bool
	// tensor, when set, merges every float tensor as a whole on the host
	// (mergekit's methods: top-k and norms per tensor; EMR's masks); chunk
	// and matrix are then not used.
	tensor func(w *wholeTensor) ([]float64, error)
	// baseScale, when set, is s in theta = s * theta_0 + alpha * delta
	// (linear without normalize: the sum of all the weights); nil: 1.
	baseScale func(v Values, tasks int) float64
	// reads is how many times chunk or matrix reads each task vector (Iso-CTS
	// reads the matrices twice); the progress estimate weighs by it.
	reads int
	// Mergekit is the name a mergekit config gives the method, when it is
	// not Name (mergekit's "ties" is distac's mergekit_ties).
	Mergekit string
}

// UsesSVD reports whether the method's matrices take SVDs (TSV-M, Iso-C,
// Iso-CTS), whose speed depends on SVDEngine.
func (m *Method) UsesSVD() bool { return m.svd }

// chunk is what a method's chunk function works on: the task vectors of
// elements [Lo, Lo+N) of one tensor on the backend, and the delta to write.
type chunk struct {
	wk     *worker
	tensor string    // the tensor's name
	lo     int       // the chunk's first element in the tensor
	taus   []ffi.Vec // tau_t, F32, one per task
	delta  ffi.Vec   // F32, written
	v      Values
	state  any // what the method's prepare returned
}

// Kind is the type of a parameter's value.
type Kind uint8

// Parameter kinds.
const (
	Float     Kind = iota // a float64
	FloatList             // one float64 or a list, comma-separated ("0.3,0.4")
	Int                   // an int
	Uint                  // a uint64
	Bool                  // true or false (also 1, 0)
)

// Param is one parameter of a method.
type Param struct {
	// Key names the parameter in configs and in the output's metadata
	// (distac.<Key>); its flag is Key with '-' for '_' (see Flag).
	Key     string
	Kind    Kind
	Default string // the default value, in the syntax of Parse
	Usage   string // what it means, for -h
	// valid says what is wrong with a parsed value, if anything (nil: any
	// value of its kind is fine).
	valid func(v any) error
}

// Flag is the command-line flag of p: its key with '-' for '_'.
func (p Param) Flag() string { return strings.ReplaceAll(p.Key, "_", "-") }

// Parse reads a value of p's kind from text: a number (a float, or an
// integer in Go syntax: 42, 0x2a), or for a FloatList numbers separated by
// commas. It also applies p's own rule.
func (p Param) Parse(s string) (any, error) {
	v, err := p.parse(strings.TrimSpace(s))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p.Key, err)
	}
	if p.valid != nil {
		if err := p.valid(v); err != nil {
			return nil, fmt.Errorf("%s: %w", p.Key, err)
		}
	}
	return v, nil
}

func (p Param) parse(s string) (any, error) {
	switch p.Kind {
	case Float:
		x, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, fmt.Errorf("%q is not a number", s)
		}
		return x, nil
	case FloatList:
		var xs []float64
		for _, f := range strings.Split(s, ",") {
			x, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
			if err != nil {
				return nil, fmt.Errorf("%q is not a number", f)
			}
			xs = append(xs, x)
		}
		return xs, nil
	case Int:
		x, err := strconv.ParseInt(s, 0, strconv.IntSize)
		if err != nil {
			return nil, fmt.Errorf("%q is not an integer", s)
		}
		return int(x), nil
	case Uint:
		x, err := strconv.ParseUint(s, 0, 64)
		if err != nil {
			return nil, fmt.Errorf("%q is not a non-negative integer", s)
		}
		return x, nil
	case Bool:
		x, err := strconv.ParseBool(s)
		if err != nil {
			return nil, fmt.Errorf("%q is not true or false", s)
		}
		return x, nil
	}
	return nil, fmt.Errorf("unknown kind %d", p.Kind)
}

// Format writes a parsed value back as text, the shortest that parses to
// the same value: what the output's metadata records.
func (p Param) Format(v any) string {
	switch x := v.(type) {
	case float64:
		return fmtFloat(x)
	case []float64:
		s := make([]string, len(x))
		for i, f := range x {
			s[i] = fmtFloat(f)
		}
		return strings.Join(s, ",")
	case int:
		return strconv.Itoa(x)
	case uint64:
		return strconv.FormatUint(x, 10)
	case bool:
		return strconv.FormatBool(x)
	}
	return fmt.Sprint(v)
}

func fmtFloat(x float64) string { return strconv.FormatFloat(x, 'g', -1, 64) }

// Values holds a method's parameter values by key, every default filled in.
type Values map[string]any

// Float is the value of a Float parameter.
func (v Values) Float(key string) float64 { return v[key].(float64) }

// Floats is the value of a FloatList parameter.
func (v Values) Floats(key string) []float64 { return v[key].([]float64) }

// Int is the value of an Int parameter.
func (v Values) Int(key string) int { return v[key].(int) }

// Uint is the value of a Uint parameter.
func (v Values) Uint(key string) uint64 { return v[key].(uint64) }

// Bool is the value of a Bool parameter.
func (v Values) Bool(key string) bool { return v[key].(bool) }

// perTask is a FloatList parameter's value for task t: its one value, or
// the t-th (check has made it one or one per task).
func (v Values) perTask(key string, t int) float64 {
	xs := v.Floats(key)
	if len(xs) == 1 {
		return xs[0]
	}
	return xs[t]
}

// ErrUnknownMethod is wrapped by the error for a method name no method has.
var ErrUnknownMethod = errors.New("unknown merge method")

// LookupMergekit returns the method a mergekit config's merge_method names:
// mergekit's own names (ties is mergekit_ties), then distac's.
func LookupMergekit(name string) (*Method, error) {
	for _, m := range Methods {
		if m.Mergekit != "" && strings.EqualFold(m.Mergekit, name) {
			return m, nil
		}
	}
	return Lookup(name)
}

// Lookup returns the method called name (any case).
func Lookup(name string) (*Method, error) {
	for _, m := range Methods {
		if strings.EqualFold(m.Name, name) {
			return m, nil
		}
	}
	return nil, fmt.Errorf("%w %q (want one of %s)", ErrUnknownMethod, name, strings.Join(MethodNames(), ", "))
}

// MethodNames lists the methods' names in the order of Methods.
func MethodNames() []string {
	names := make([]string, len(Methods))
	for i, m := range Methods {
		names[i] = m.Name
	}
	return names
}

// Param returns the method's parameter called key.
func (m *Method) Param(key string) (Param, bool) {
	for _, p := range m.Params {
		if p.Key == key {
			return p, true
		}
	}
	return Param{}, false
}

// AllParams lists every parameter of every method once, in the order the
// methods define them; a key shared by several methods is one parameter
// (it must mean the same in each), listed with the methods that have it.
func AllParams() []SharedParam {
	var out []SharedParam
	for _, m := range Methods {
		for _, p := range m.Params {
			i := slices.IndexFunc(out, func(s SharedParam) bool { return s.Key == p.Key })
			if i < 0 {
				out = append(out, SharedParam{Param: p})
				i = len(out) - 1
			}
			out[i].Methods = append(out[i].Methods, m.Name)
		}
	}
	return out
}

// SharedParam is a parameter and the methods that take it.
type SharedParam struct {
	Param
	Methods []string
}

// Resolve parses the method's parameters from text by key (absent ones take
// their defaults) and checks them, against the number of tasks too. A key
// that is not one of the method's parameters is an error.
func (m *Method) Resolve(params map[string]string, tasks int) (Values, error) {
	for _, k := range slices.Sorted(maps.Keys(params)) {
		if _, ok := m.Param(k); !ok {
			return nil, fmt.Errorf("%s has no parameter %q%s", m.Name, k, m.paramHint())
		}
	}
	v := Values{}
	for _, p := range m.Params {
		text, ok := params[p.Key]
		if !ok {
			text = p.Default
		}
		x, err := p.Parse(text)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", m.Name, err)
		}
		v[p.Key] = x
	}
	if m.check != nil {
		if err := m.check(v, tasks); err != nil {
			return nil, fmt.Errorf("%s: %w", m.Name, err)
		}
	}
	return v, nil
}

// paramHint lists the method's parameters for an error message.
func (m *Method) paramHint() string {
	if len(m.Params) == 0 {
		return " (it has none)"
	}
	keys := make([]string, len(m.Params))
	for i, p := range m.Params {
		keys[i] = p.Key
	}
	return " (it has " + strings.Join(keys, ", ") + ")"
}

// Metadata is what the output records of the method's values: distac.<key>
// for each parameter, in text that parses back to the same values.
func (m *Method) Metadata(v Values) map[string]string {
	meta := map[string]string{}
	for _, p := range m.Params {
		meta["distac."+p.Key] = p.Format(v[p.Key])
	}
	return meta
}
