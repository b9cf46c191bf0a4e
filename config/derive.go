package config

import "go.yaml.in/yaml/v3"

// Derived defaults. A default in a struct tag is a constant, and a
// constant can contradict a value the user wrote: `period: 500ms` alone,
// against the default `timeout: 1s`, would be rejected for a timeout nobody
// wrote. So where two keys are checked against each other, the one that
// was not written (in the worker, a template it extends, or defaults)
// gives way to the one that was: a default never makes a written value
// invalid. When both are written, validation judges them as they are.

// deriveDefaults adjusts the defaults of w, decoded from n (its mapping
// merged over its templates and defaults), to the values written in n.
// It looks at n only where two values conflict, which a valid config
// never has, so loading one costs nothing more.
func deriveDefaults(w *Worker, n *yaml.Node) {
	for _, pr := range []struct {
		key string
		p   *Probe
	}{{"startup", w.Health.Startup}, {"readiness", w.Health.Readiness}, {"liveness", w.Health.Liveness}} {
		if p := pr.p; p != nil && p.Period > 0 && p.Timeout > p.Period {
			deriveProbe(p, mapValue(mapValue(n, "health"), pr.key))
		}
	}
	deriveRestart(&w.Restart, func() *yaml.Node { return mapValue(mapValue(n, "restart"), "backoff") })
}

// written reports whether mapping n sets key to a value (a null value, as
// in "timeout:", leaves the default).
func written(n *yaml.Node, key string) bool { return !isNull(mapValue(n, key)) }

// deriveProbe, for a timeout above the period: an unwritten timeout is
// min(1s, period), an unwritten period max(10s, timeout).
func deriveProbe(p *Probe, n *yaml.Node) {
	timeout, period := written(n, "timeout"), written(n, "period")
	switch {
	case !timeout && period:
		p.Timeout = p.Period
	case timeout && !period:
		p.Period = p.Timeout
	}
}

// deriveRestart: a back-off's initial is at most its max, so an unwritten
// max is max(5m, initial) and an unwritten initial min(1s, max). A
// trigger's back-off inherits what it does not set; where the inherited
// value was not written either, it gives way to the trigger's own.
// backoff returns the mapping of restart.backoff, looked up when needed.
func deriveRestart(r *Restart, backoff func() *yaml.Node) {
	var initialSet, maxSet, looked bool
	lookup := func() {
		if !looked {
			b := backoff()
			initialSet, maxSet, looked = written(b, "initial"), written(b, "max"), true
		}
	}
	if r.Backoff.Max < r.Backoff.Initial && r.Backoff.Max >= 0 {
		lookup()
		switch {
		case initialSet && !maxSet:
			r.Backoff.Max = r.Backoff.Initial
		case maxSet && !initialSet:
			r.Backoff.Initial = r.Backoff.Max
		}
	}
	for _, o := range []*TriggerRestart{r.On.Crash, r.On.Health, r.On.Resource} {
		if o == nil || o.Backoff == nil {
			continue
		}
		ob := o.Backoff
		switch {
		case ob.Initial != nil && ob.Max == nil && *ob.Initial > r.Backoff.Max:
			if lookup(); !maxSet {
				v := *ob.Initial
				ob.Max = &v
			}
		case ob.Max != nil && ob.Initial == nil && *ob.Max >= 0 && *ob.Max < r.Backoff.Initial:
			if lookup(); !initialSet {
				v := *ob.Max
				ob.Initial = &v
			}
		}
	}
}
