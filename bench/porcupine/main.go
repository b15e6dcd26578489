// Command porcupine-check checks the same history files as `kinv lincheck`, with porcupine
// (github.com/anishathalye/porcupine), for the side-by-side figures of bench/lincheck.py.
//
// It reads what kinv reads (Jepsen EDN operation maps, one per line or in one vector, with the
// key in a :key field or as independent's [key value]; jepsen.util log lines separated by tabs
// or spaces) and gives operations kinv's meaning: :fail did not happen; :info (or no
// completion) may have happened at any time after its invocation, so its completion is put
// after the end of the history and its output is ignored; a read of unknown outcome is
// dropped. Models: register, cas-register, kv (read, write, cas, delete per key) and
// kv-append (get, put, append of strings per key), partitioned per key as porcupine's kv model.
//
// Usage: porcupine-check -model NAME [-timeout SECONDS] FILE...
// Prints one line per file: "file result seconds", result being linearizable,
// "not linearizable" or unknown (timed out); then "total seconds".
//
// A benchmark tool only (bench/lincheck.py builds it when Go is installed); never a test
// dependency.
package main

import (
	"flag"
	"fmt"
	"hash/fnv"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"
)

// ---- EDN: just what operation histories use ----------------------------------------------

type str string         // an EDN string (a keyword or symbol is kept as a Go string with its colon)
type vec []any          // an EDN vector, list or set
type edn map[string]any // an EDN map with keyword keys

type reader struct {
	text string
	pos  int
}

func (r *reader) skip() {
	for r.pos < len(r.text) {
		c := r.text[r.pos]
		switch {
		case c == ';':
			for r.pos < len(r.text) && r.text[r.pos] != '\n' {
				r.pos++
			}
		case c == ' ' || c == ',' || c == '\t' || c == '\n' || c == '\r':
			r.pos++
		case c == '#' && r.pos+1 < len(r.text) && r.text[r.pos+1] != '{':
			for r.pos < len(r.text) && !strings.ContainsRune(" \t\n,{[(", rune(r.text[r.pos])) {
				r.pos++ // a tag such as #jepsen.history.Op: ignored
			}
		default:
			return
		}
	}
}

// form reads one form; ok is false at the end of the text.
func (r *reader) form() (value any, ok bool, err error) {
	r.skip()
	if r.pos >= len(r.text) {
		return nil, false, nil
	}
	c := r.text[r.pos]
	switch {
	case c == '{' || c == '[' || c == '(' || c == '#':
		return r.collection()
	case c == '"':
		return r.str()
	case c == '}' || c == ']' || c == ')':
		return nil, false, fmt.Errorf("unexpected %q", c)
	}
	start := r.pos
	for r.pos < len(r.text) && !strings.ContainsRune(" \t\n\r,;{}[]()\"", rune(r.text[r.pos])) {
		r.pos++
	}
	atom := r.text[start:r.pos]
	if atom == "nil" {
		return nil, true, nil
	}
	if n, err := strconv.ParseInt(strings.TrimSuffix(atom, "N"), 10, 64); err == nil {
		return n, true, nil
	}
	return atom, true, nil
}

func (r *reader) str() (any, bool, error) {
	var b strings.Builder
	for r.pos++; r.pos < len(r.text); r.pos++ {
		c := r.text[r.pos]
		if c == '"' {
			r.pos++
			return str(b.String()), true, nil
		}
		if c == '\\' && r.pos+1 < len(r.text) {
			r.pos++
			c = r.text[r.pos]
			if escaped, ok := escapes[c]; ok {
				c = escaped
			}
		}
		b.WriteByte(c)
	}
	return nil, false, fmt.Errorf("unterminated string")
}

var escapes = map[byte]byte{'n': '\n', 't': '\t', 'r': '\r'}

func (r *reader) collection() (any, bool, error) {
	open := r.text[r.pos]
	if open == '#' {
		r.pos++ // #{...}: a set, read as a vector
	}
	r.pos++
	closer := map[byte]byte{'{': '}', '[': ']', '(': ')', '#': '}'}[open]
	var items vec
	for {
		r.skip()
		if r.pos >= len(r.text) {
			return nil, false, fmt.Errorf("%q never closed", open)
		}
		if r.text[r.pos] == closer {
			r.pos++
			break
		}
		item, ok, err := r.form()
		if err != nil || !ok {
			return nil, false, fmt.Errorf("bad collection: %v", err)
		}
		items = append(items, item)
	}
	if open != '{' {
		return items, true, nil
	}
	m := edn{}
	for i := 0; i+1 < len(items); i += 2 {
		m[show(items[i])] = items[i+1]
	}
	return m, true, nil
}

// show is a value's canonical text: values are compared by it.
func show(value any) string {
	switch v := value.(type) {
	case nil:
		return "nil"
	case str:
		return strconv.Quote(string(v))
	case vec:
		parts := make([]string, len(v))
		for i, item := range v {
			parts[i] = show(item)
		}
		return "[" + strings.Join(parts, " ") + "]"
	case edn:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for i, k := range keys {
			keys[i] = k + " " + show(v[k])
		}
		return "{" + strings.Join(keys, ", ") + "}"
	default:
		return fmt.Sprint(v)
	}
}

// ---- histories ---------------------------------------------------------------------------

type event struct {
	process int64
	kind    string // invoke, ok, fail, info
	f       string
	key     string
	value   any
	index   int64
}

type input struct {
	f, key string
	value  any
}

type output struct {
	value   any
	unknown bool
}

func toEvent(m edn, keyed bool, position int) (event, bool) {
	process, isInt := m[":process"].(int64)
	if !isInt {
		return event{}, false // :nemesis
	}
	e := event{process: process, kind: strings.TrimPrefix(fmt.Sprint(m[":type"]), ":"),
		f: strings.TrimPrefix(fmt.Sprint(m[":f"]), ":"), value: m[":value"], index: int64(position)}
	if index, ok := m[":index"].(int64); ok {
		e.index = index
	}
	if keyed {
		if key, ok := m[":key"]; ok {
			e.key = show(key)
		} else if pair, ok := e.value.(vec); ok && len(pair) == 2 {
			e.key, e.value = show(pair[0]), pair[1]
		}
	}
	return e, true
}

func readEvents(path string, keyed bool) ([]event, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	text := string(data)
	var events []event
	if strings.Contains(text, "jepsen.util") {
		for _, line := range strings.Split(text, "\n") {
			at := strings.Index(line, "jepsen.util")
			if at < 0 {
				continue
			}
			rest := strings.TrimLeft(line[at+len("jepsen.util"):], " \t")
			rest = strings.TrimLeft(strings.TrimPrefix(strings.TrimPrefix(rest, "-"), ":"), " \t")
			r := &reader{text: rest}
			m := edn{}
			for _, field := range []string{":process", ":type", ":f", ":value"} {
				value, ok, err := r.form()
				if err != nil {
					return nil, err
				}
				if ok {
					m[field] = value
				}
			}
			if e, ok := toEvent(m, keyed, len(events)); ok {
				events = append(events, e)
			}
		}
	} else {
		r := &reader{text: text}
		var forms []any
		for {
			value, ok, err := r.form()
			if err != nil {
				return nil, err
			}
			if !ok {
				break
			}
			forms = append(forms, value)
		}
		if len(forms) == 1 {
			if items, ok := forms[0].(vec); ok {
				forms = items
			}
		}
		for _, form := range forms {
			if m, ok := form.(edn); ok {
				if e, ok := toEvent(m, keyed, len(events)); ok {
					events = append(events, e)
				}
			}
		}
	}
	sort.SliceStable(events, func(i, j int) bool { return events[i].index < events[j].index })
	return events, nil
}

const never = int64(1) << 62 // an unknown outcome completes after the end of the history

func operations(events []event, reads map[string]bool) []porcupine.Operation {
	pending := map[int64]event{}
	var ops []porcupine.Operation
	add := func(invoke event, output output, ret int64) {
		ops = append(ops, porcupine.Operation{ClientId: int(invoke.process),
			Input: input{invoke.f, invoke.key, invoke.value}, Call: invoke.index, Output: output, Return: ret})
	}
	for _, e := range events {
		if e.kind == "invoke" {
			pending[e.process] = e
			continue
		}
		invoke, ok := pending[e.process]
		if !ok {
			continue
		}
		delete(pending, e.process)
		switch {
		case e.kind == "ok":
			add(invoke, output{value: e.value}, e.index)
		case e.kind == "info" && !reads[e.f]:
			add(invoke, output{unknown: true}, never)
		}
	}
	processes := make([]int64, 0, len(pending))
	for process := range pending {
		processes = append(processes, process)
	}
	sort.Slice(processes, func(i, j int) bool { return processes[i] < processes[j] })
	for _, process := range processes {
		if invoke := pending[process]; !reads[invoke.f] {
			add(invoke, output{unknown: true}, never)
		}
	}
	return ops
}

// ---- models --------------------------------------------------------------------------------

func registerStep(state any, in input, out output) (bool, any) {
	current := state.(string)
	switch in.f {
	case "read":
		return out.unknown || current == show(out.value), state
	case "write":
		return true, show(in.value)
	case "cas":
		pair, _ := in.value.(vec)
		if len(pair) != 2 || current != show(pair[0]) {
			return out.unknown, state // one of unknown outcome may not have happened: always ok
		}
		return true, show(pair[1])
	case "delete":
		return true, "nil"
	}
	return false, state
}

func text(value any) string {
	if s, ok := value.(str); ok {
		return string(s)
	}
	return ""
}

func appendStep(state any, in input, out output) (bool, any) {
	current := state.(string)
	switch in.f {
	case "get":
		return out.unknown || current == text(out.value), state
	case "put":
		return true, text(in.value)
	case "append":
		return true, current + text(in.value)
	}
	return false, state
}

func byKey(history []porcupine.Operation) [][]porcupine.Operation {
	parts := map[string][]porcupine.Operation{}
	for _, op := range history {
		key := op.Input.(input).key
		parts[key] = append(parts[key], op)
	}
	keys := make([]string, 0, len(parts))
	for key := range parts {
		keys = append(keys, key)
	}
	sort.Strings(keys)
	result := make([][]porcupine.Operation, len(keys))
	for i, key := range keys {
		result[i] = parts[key]
	}
	return result
}

func model(name string) (porcupine.Model, map[string]bool, bool) {
	step, initial, reads := registerStep, "nil", map[string]bool{"read": true}
	if name == "kv-append" {
		step, initial, reads = appendStep, "", map[string]bool{"get": true}
	}
	m := porcupine.Model{
		Init: func() any { return initial },
		Step: func(state, in, out any) (bool, any) { return step(state, in.(input), out.(output)) },
		Hash: func(state any) uint64 { // as porcupine's own kv model: fewer Equal calls
			h := fnv.New64a()
			h.Write([]byte(state.(string)))
			return h.Sum64()
		},
	}
	keyed := name == "kv" || name == "kv-append"
	if keyed {
		m.Partition = byKey
	}
	return m, reads, keyed
}

func main() {
	name := flag.String("model", "register", "register, cas-register, kv or kv-append")
	timeout := flag.Float64("timeout", 0, "seconds per file before answering unknown (0: none)")
	flag.Parse()
	m, reads, keyed := model(*name)
	start := time.Now()
	for _, path := range flag.Args() {
		began := time.Now()
		events, err := readEvents(path, keyed)
		if err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", path, err)
			os.Exit(2)
		}
		result := porcupine.CheckOperationsTimeout(m, operations(events, reads), time.Duration(*timeout*float64(time.Second)))
		answer := map[porcupine.CheckResult]string{porcupine.Ok: "linearizable", porcupine.Illegal: "not linearizable",
			porcupine.Unknown: "unknown"}[result]
		fmt.Printf("%s\t%s\t%.4f\n", path, answer, time.Since(began).Seconds())
	}
	fmt.Printf("total\t%.4f\n", time.Since(start).Seconds())
}
