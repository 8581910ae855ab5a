// Command grafana-check checks Grafana dashboard JSON files against the dashboard schema that
// Grafana publishes as the Grafana Foundation SDK (github.com/grafana/grafana-foundation-sdk/go,
// Apache-2.0), since Grafana itself cannot run where the tests run.
//
//	grafana-check FILE...
//
// prints one line per problem, "FILE: path: message", and exits 1 if there is any (2 on bad
// usage). No class of problem is filtered out: a required field that Grafana's frontend would
// default is still reported, so the dashboards carry those fields explicitly.
//
// What it checks, for each file:
//
//  1. the SDK's strict decoding (dashboard.Dashboard.UnmarshalJSONStrict, with every panel and
//     data source plugin the SDK knows registered): unknown keys wherever the schema is closed,
//     wrong JSON types, required fields missing or null, panel options and
//     fieldConfig.defaults.custom against the panel plugin's schema, and queries that carry
//     their own datasource.type against that data source's schema;
//  2. the SDK's constraints (Validate) of the dashboard and of every panel, its options, custom
//     field config and queries;
//  3. what the SDK decodes loosely and so never checks:
//     - panels[].fieldConfig (defaults and overrides), decoded strictly;
//     - every override property: its id must name a field config option (or custom.<option> of
//     the panel plugin) and its value must fit that option's schema;
//     - the panel type must be a panel plugin the SDK knows (else its options go unchecked);
//     - each query must have a known data source type, its own or else its panel's, and is
//     decoded strictly with it (the SDK only looks at the query's own datasource.type);
//     - every enum value (legend.displayMode, thresholds.mode, color.mode, variable hide, ...)
//     must be one of the schema's values (enums_gen.go, generated from the SDK by
//     `go run ./gen/enums`; the SDK decodes an enum as a plain string or integer).
//
// The SDK's strict decoders always return a non-nil error (a nil cog.BuildErrors in an error
// interface), so where one decoder calls another and stops on "an error" the decoded value is
// dropped: every panel (PanelOrRowPanel), panel options, custom field config and query. Their
// problems are still reported, but Dashboard.Validate never sees a panel. So each panel is
// decoded again here, its options, custom field config and queries with the plugins' loose
// decoders into the same typed structs, and validated and enum-checked from that.
package main

import (
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/plugins"
	"github.com/grafana/grafana-foundation-sdk/go/cog/variants"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
)

const sdkModule = "github.com/grafana/grafana-foundation-sdk/go"

// The checker's own source, so that --version can say which source a cached binary was built
// from: build.sh keys the cache by the SDK version only, and tests/test_dashboards_schema.py
// compares this with the source in the repository.
var (
	//go:embed main.go
	mainSource []byte
	//go:embed enums_gen.go
	enumsSource []byte
)

// sourceDigest is the sha256 of main.go followed by enums_gen.go.
func sourceDigest() string {
	h := sha256.New()
	h.Write(mainSource)
	h.Write(enumsSource)
	return hex.EncodeToString(h.Sum(nil))
}

type problem struct {
	path, message string
	// derived: found in a decoded value (a constraint, an enum at its zero value), so dropped
	// where decoding already failed at that path or above it (see dedupe).
	derived bool
}

func main() {
	if len(os.Args) == 2 && os.Args[1] == "--version" {
		fmt.Printf("grafana-check: %s %s, source sha256 %s\n", sdkModule, sdkVersion(), sourceDigest())
		return
	}
	if len(os.Args) < 2 || strings.HasPrefix(os.Args[1], "-") {
		fmt.Fprintln(os.Stderr, "usage: grafana-check FILE...   (or --version)")
		os.Exit(2)
	}
	if v := sdkVersion(); v != enumsSDKVersion {
		fmt.Fprintf(os.Stderr, "grafana-check: built with %s %s but enums_gen.go is from %s; run `go run ./gen/enums`\n",
			sdkModule, v, enumsSDKVersion)
		os.Exit(2)
	}
	plugins.RegisterDefaultPlugins()

	failed := false
	for _, file := range os.Args[1:] {
		raw, err := os.ReadFile(file)
		if err != nil {
			fmt.Printf("%s: $: %v\n", file, err)
			failed = true
			continue
		}
		for _, p := range checkDashboard(raw) {
			fmt.Printf("%s: %s: %s\n", file, p.path, p.message)
			failed = true
		}
	}
	if failed {
		os.Exit(1)
	}
}

// sdkVersion is the SDK version this binary was built with.
func sdkVersion() string {
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, dep := range info.Deps {
			if dep.Path == sdkModule {
				if dep.Replace != nil {
					return dep.Replace.Version
				}
				return dep.Version
			}
		}
	}
	return "(unknown)"
}

func checkDashboard(raw []byte) []problem {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(raw, &top); err != nil {
		return []problem{{path: "$", message: "not a JSON object: " + err.Error()}}
	}
	var problems []problem
	var decoded dashboard.Dashboard
	problems = append(problems, sdkProblems("", decoded.UnmarshalJSONStrict(raw))...)
	decoded.Panels = nil // empty (see the package comment); checked one by one below
	problems = append(problems, derived(sdkProblems("", decoded.Validate()))...)
	problems = append(problems, enumProblems("", reflect.ValueOf(decoded))...)

	var panels []json.RawMessage
	if json.Unmarshal(top["panels"], &panels) == nil {
		for i, panel := range panels {
			problems = append(problems, checkPanel("panels["+strconv.Itoa(i)+"]", panel)...)
		}
	}
	return dedupe(problems)
}

// rawPanel is what checkPanel reads of a panel as it is; type errors are the SDK's to report.
type rawPanel struct {
	Type        string            `json:"type"`
	Datasource  *rawDatasource    `json:"datasource"`
	Targets     []json.RawMessage `json:"targets"`
	Options     json.RawMessage   `json:"options"`
	FieldConfig json.RawMessage   `json:"fieldConfig"`
	Panels      []json.RawMessage `json:"panels"` // a row's panels
}

type rawDatasource struct {
	Type *string `json:"type"`
}

func (ds *rawDatasource) typ() string {
	if ds == nil || ds.Type == nil {
		return ""
	}
	return *ds.Type
}

func present(raw json.RawMessage) bool { return len(raw) > 0 && string(raw) != "null" }

// checkPanel checks one panel (or a row and its panels) beyond the SDK's strict decoding.
func checkPanel(path string, raw json.RawMessage) []problem {
	var panel rawPanel
	if json.Unmarshal(raw, &panel) != nil {
		return nil // not an object, or a field of the wrong type: reported by the SDK
	}
	var problems []problem
	if panel.Type == "row" {
		row := &dashboard.RowPanel{}
		_ = row.UnmarshalJSONStrict(raw) // its problems are reported by the SDK's pass already
		row.Panels = nil                 // checked one by one below
		problems = append(problems, derived(sdkProblems(path, row.Validate()))...)
		problems = append(problems, enumProblems(path, reflect.ValueOf(row))...)
		for j, inner := range panel.Panels {
			problems = append(problems, checkPanel(path+".panels["+strconv.Itoa(j)+"]", inner)...)
		}
		return problems
	}

	plugin, known := cog.ConfigForPanelcfgVariant(panel.Type)
	if !known && panel.Type != "" {
		problems = append(problems, problem{path: path + ".type",
			message: fmt.Sprintf("unknown panel plugin %q: its options and custom field config cannot be checked", panel.Type)})
	}

	// The typed panel, for Validate and the enum check. The strict decoder fills everything but
	// options, custom field config and queries, which are decoded loosely into their types here
	// (strictness is the strict pass's business).
	typed := &dashboard.Panel{}
	_ = typed.UnmarshalJSONStrict(raw)
	if known && present(panel.Options) && plugin.OptionsUnmarshaler != nil {
		if options, err := plugin.OptionsUnmarshaler(panel.Options); err == nil {
			typed.Options = options
		}
	}
	var custom struct {
		Defaults struct {
			Custom json.RawMessage `json:"custom"`
		} `json:"defaults"`
	}
	if known && typed.FieldConfig != nil && plugin.FieldConfigUnmarshaler != nil &&
		json.Unmarshal(panel.FieldConfig, &custom) == nil && present(custom.Defaults.Custom) {
		if fc, err := plugin.FieldConfigUnmarshaler(custom.Defaults.Custom); err == nil {
			typed.FieldConfig.Defaults.Custom = fc
		}
	}
	typed.Targets = nil
	for j, target := range panel.Targets {
		query, targetProblems := checkTarget(path+".targets["+strconv.Itoa(j)+"]", target, panel.Datasource.typ())
		problems = append(problems, targetProblems...)
		if query != nil {
			typed.Targets = append(typed.Targets, query)
		}
	}
	problems = append(problems, derived(sdkProblems(path, typed.Validate()))...)
	problems = append(problems, validate(path+".options", typed.Options)...)
	if typed.FieldConfig != nil {
		problems = append(problems, validate(path+".fieldConfig.defaults.custom", typed.FieldConfig.Defaults.Custom)...)
	}
	problems = append(problems, enumProblems(path, reflect.ValueOf(typed))...)

	if present(panel.FieldConfig) {
		fcPath := path + ".fieldConfig"
		var fc dashboard.FieldConfigSource
		problems = append(problems, sdkProblems(fcPath, fc.UnmarshalJSONStrict(panel.FieldConfig))...)
		for k, override := range fc.Overrides {
			for m, property := range override.Properties {
				propPath := fmt.Sprintf("%s.overrides[%d].properties[%d]", fcPath, k, m)
				problems = append(problems, checkOverrideProperty(propPath, property, plugin, known)...)
			}
		}
	}
	return problems
}

// validate runs the Validate method of a decoded value, if it has one.
func validate(path string, v any) []problem {
	if validator, ok := v.(interface{ Validate() error }); ok {
		return derived(sdkProblems(path, validator.Validate()))
	}
	return nil
}

// checkTarget checks a query with the data source type Grafana would use for it: its own
// datasource.type, else its panel's. The SDK decodes only the first strictly (it reads the
// panel's datasource after its targets) and a query of no known type as a free-form map. It
// returns the query decoded into its type, for the panel's Validate and enum check.
func checkTarget(path string, raw json.RawMessage, panelType string) (variants.Dataquery, []problem) {
	var target struct {
		Datasource *rawDatasource `json:"datasource"`
	}
	if json.Unmarshal(raw, &target) != nil {
		return nil, nil // reported by the SDK
	}
	own := target.Datasource.typ()
	dsType := own
	if dsType == "" {
		dsType = panelType
	}
	query, err := cog.UnmarshalDataquery(raw, dsType)
	if err != nil {
		query = nil // a type error, reported by the strict decoding
	}
	if _, unknown := query.(variants.UnknownDataquery); unknown {
		if dsType == "" {
			return nil, []problem{{path: path, message: "no datasource.type on the query or its panel: the query cannot be checked"}}
		}
		return nil, []problem{{path: path + ".datasource.type",
			message: fmt.Sprintf("unknown data source type %q: the query cannot be checked", dsType)}}
	}
	if own != "" {
		return query, nil // the SDK decoded it strictly so, and reported its problems
	}
	_, err = cog.StrictUnmarshalDataquery(raw, dsType)
	return query, sdkProblems(path, err)
}

// checkOverrideProperty checks one fieldConfig override property. Its id is the path of a field
// config option ("unit", "thresholds", "custom.lineWidth"), its value that option's value, so the
// property is decoded strictly as a field config holding just that option.
func checkOverrideProperty(path string, property dashboard.DynamicConfigValue, plugin variants.PanelcfgConfig, known bool) []problem {
	if property.Value == nil {
		return nil
	}
	value, err := json.Marshal(property.Value)
	if err != nil {
		return []problem{{path: path + ".value", message: err.Error()}}
	}
	idPath, valuePath := path+".id", path+".value"
	option, isCustom := strings.CutPrefix(property.Id, "custom.")
	if option == "" || strings.Contains(option, ".") {
		return []problem{{path: idPath, message: fmt.Sprintf("%q does not name a field config option", property.Id)}}
	}
	single := []byte(`{` + strconv.Quote(option) + `:` + string(value) + `}`)

	var strictErr error
	var typed any // the loose decoding into the same type, for the enum check
	if !isCustom {
		strictErr = (&dashboard.FieldConfig{}).UnmarshalJSONStrict(single)
		fc := &dashboard.FieldConfig{}
		if json.Unmarshal(single, fc) == nil {
			typed = fc
		}
	} else {
		if !known || plugin.StrictFieldConfigUnmarshaler == nil {
			return nil // the unknown panel type is reported already
		}
		_, strictErr = plugin.StrictFieldConfigUnmarshaler(single)
		if plugin.FieldConfigUnmarshaler != nil {
			typed, _ = plugin.FieldConfigUnmarshaler(single)
		}
	}
	var problems []problem
	for _, p := range sdkProblems("", strictErr) {
		topLevel := !strings.ContainsAny(p.path, ".[")
		switch {
		case topLevel && p.message == unexpectedMessage:
			problems = append(problems, problem{path: idPath, message: fmt.Sprintf("%q is not a field config option", property.Id)})
		case topLevel && p.path != option && p.message == missingMessage:
			// An override sets one option: the plugin's other required options are not its business.
		default:
			sub := strings.TrimPrefix(strings.TrimPrefix(p.path, option), ".")
			problems = append(problems, problem{path: joinPath(valuePath, sub), message: p.message})
		}
	}
	// Only the option the override sets: the others hold zero values.
	if v, ok := fieldByJSONName(reflect.ValueOf(typed), option); ok {
		problems = append(problems, enumProblems(valuePath, v)...)
	}
	return problems
}

// fieldByJSONName is the field of a struct (or pointer to one) with that json name.
func fieldByJSONName(v reflect.Value, name string) (reflect.Value, bool) {
	for v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface {
		if v.IsNil() {
			return reflect.Value{}, false
		}
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		return reflect.Value{}, false
	}
	for i := 0; i < v.NumField(); i++ {
		if f := v.Type().Field(i); f.IsExported() && strings.Split(f.Tag.Get("json"), ",")[0] == name {
			return v.Field(i), true
		}
	}
	return reflect.Value{}, false
}

const (
	missingMessage    = "required field is missing from input" // the SDK's
	nullMessage       = "required field is null"               // the SDK's
	unexpectedMessage = "unexpected field (not in the schema)"
)

// sdkProblems flattens an error of the SDK's strict decoding or validation into problems at
// JSON paths under prefix.
//
// The SDK's paths name JSON fields, except that it inserts Go names: the type that met an
// unexpected field ("Dashboard: unexpected field 'panles'", "panels[0].Panel: unexpected field
// 'gridPoss'") and the member of a union (Validate's "Panel" in PanelOrRowPanel). JSON fields of
// the dashboard schema start with a lower-case letter, so segments that start with an upper-case
// one are dropped, and an unexpected field is named in the path itself.
func sdkProblems(prefix string, err error) []problem {
	if err == nil {
		return nil
	}
	var buildErrs cog.BuildErrors
	var buildErr *cog.BuildError
	switch {
	case errors.As(err, &buildErrs):
	case errors.As(err, &buildErr):
		buildErrs = cog.BuildErrors{buildErr}
	default:
		return []problem{{path: orRoot(prefix), message: err.Error()}}
	}
	problems := make([]problem, 0, len(buildErrs))
	for _, e := range buildErrs {
		var kept []string
		for _, segment := range strings.Split(e.Path, ".") {
			if segment != "" && !(segment[0] >= 'A' && segment[0] <= 'Z') {
				kept = append(kept, segment)
			}
		}
		path, message := strings.Join(kept, "."), e.Message
		if field, ok := unexpectedField(message); ok {
			path, message = joinPath(path, field), unexpectedMessage
		}
		problems = append(problems, problem{path: orRoot(joinPath(prefix, path)), message: message})
	}
	return problems
}

// unexpectedField reads the field named by the SDK's "unexpected field 'name'" message.
func unexpectedField(message string) (string, bool) {
	rest, ok := strings.CutPrefix(message, "unexpected field '")
	if !ok || !strings.HasSuffix(rest, "'") {
		return "", false
	}
	return strings.TrimSuffix(rest, "'"), true
}

func joinPath(a, b string) string {
	switch {
	case a == "" || a == "$":
		return b
	case b == "":
		return a
	case strings.HasPrefix(b, "["):
		return a + b
	}
	return a + "." + b
}

func orRoot(path string) string {
	if path == "" {
		return "$"
	}
	return path
}

// enumProblems walks a decoded value and reports every enum-typed value that is not one of the
// schema's values. Paths follow the json tags; the members of a union (a struct with its own
// MarshalJSON, e.g. the table's cellOptions) add no segment, as they have none in the JSON.
func enumProblems(path string, v reflect.Value) []problem {
	var problems []problem
	var walk func(path string, v reflect.Value)
	walk = func(path string, v reflect.Value) {
		switch v.Kind() {
		case reflect.Invalid:
			return
		case reflect.Interface, reflect.Pointer:
			if !v.IsNil() {
				walk(path, v.Elem())
			}
			return
		case reflect.Slice, reflect.Array:
			for i := 0; i < v.Len(); i++ {
				walk(path+"["+strconv.Itoa(i)+"]", v.Index(i))
			}
			return
		case reflect.Map:
			keys := v.MapKeys()
			sort.Slice(keys, func(i, j int) bool { return fmt.Sprint(keys[i]) < fmt.Sprint(keys[j]) })
			for _, key := range keys {
				walk(joinPath(path, fmt.Sprint(key)), v.MapIndex(key))
			}
			return
		case reflect.Struct:
			t := v.Type()
			_, union := t.MethodByName("MarshalJSON")
			for i := 0; i < t.NumField(); i++ {
				f := t.Field(i)
				if !f.IsExported() {
					continue
				}
				name := strings.Split(f.Tag.Get("json"), ",")[0]
				if name == "-" {
					continue
				}
				if name == "" {
					name = f.Name
				}
				if union {
					walk(path, v.Field(i))
				} else {
					walk(joinPath(path, name), v.Field(i))
				}
			}
			return
		}
		t := v.Type()
		allowed, isEnum := enums[t.PkgPath()+"."+t.Name()]
		if !isEnum {
			return
		}
		var value string
		switch v.Kind() {
		case reflect.String:
			value = v.String()
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
			value = strconv.FormatInt(v.Int(), 10)
		case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
			value = strconv.FormatUint(v.Uint(), 10)
		default:
			return
		}
		for _, a := range allowed {
			if a == value {
				return
			}
		}
		problems = append(problems, problem{path: orRoot(path),
			message: fmt.Sprintf("%q is not one of %s (%s)", value, quoteAll(allowed), t.Name()),
			derived: v.IsZero()})
	}
	walk(path, v)
	return problems
}

func quoteAll(values []string) string {
	quoted := make([]string, len(values))
	for i, v := range values {
		quoted[i] = strconv.Quote(v)
	}
	return strings.Join(quoted, ", ")
}

func derived(problems []problem) []problem {
	for i := range problems {
		problems[i].derived = true
	}
	return problems
}

// decodeFailed: the value at the problem's path was not decoded (absent, null, or of the wrong
// JSON type), so what its decoded (zero) value shows is no news.
func decodeFailed(p problem) bool {
	return !p.derived && (p.message == missingMessage || p.message == nullMessage || strings.HasPrefix(p.message, "json: "))
}

// dedupe removes repeated problems and the derived problems at or below a path where decoding
// failed (a required field left out decodes as its zero value, which then breaks "must be > 0"
// or is not one of an enum's values), keeping the order.
func dedupe(problems []problem) []problem {
	failed := map[string]bool{}
	for _, p := range problems {
		if decodeFailed(p) {
			failed[p.path] = true
		}
	}
	underFailed := func(path string) bool {
		for i := len(path); i > 0; i-- {
			if (i == len(path) || path[i] == '.' || path[i] == '[') && failed[path[:i]] {
				return true
			}
		}
		return false
	}
	seen := map[problem]bool{}
	var out []problem
	for _, p := range problems {
		if seen[p] || (p.derived && underFailed(p.path)) {
			continue
		}
		seen[p] = true
		out = append(out, p)
	}
	return out
}
