package plan

import (
	"errors"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"

	"github.com/aiuptime/aiuptime/calendar"
	"github.com/aiuptime/aiuptime/internal/yamldoc"
)

// WindowAny is the scalar form of a window that is always open.
const WindowAny = "any"

// Calendar parses the window. A nil window (the plan has none) is always
// open. The error is a *calendar.FieldError naming the field.
func (w *Window) Calendar() (calendar.Window, error) {
	if w == nil {
		return calendar.Any(), nil
	}
	days := make([]string, len(w.Days))
	for i, d := range w.Days {
		days[i] = string(d)
	}
	return calendar.Parse(calendar.Spec{Days: days, Start: string(w.Start), End: string(w.End), TZ: w.TZ, Cadence: w.Cadence})
}

// UnmarshalYAML decodes the mapping form and the scalar any.
func (w *Window) UnmarshalYAML(node ast.Node) error {
	node = yamldoc.Unwrap(node)
	switch n := node.(type) {
	case *ast.StringNode:
		if !strings.EqualFold(strings.TrimSpace(n.Value), WindowAny) {
			return yamldoc.NodeError(node, "want any or a mapping {days: [sat], start: \"02:00\", end: \"06:00\", tz: UTC}, got %q", n.Value)
		}
		*w = Window{Days: []Weekday{WindowAny}}
		return nil
	case *ast.MappingNode, *ast.MappingValueNode:
		type plain Window
		var p plain
		if err := yaml.NodeToValue(node, &p, yaml.DisallowUnknownField()); err != nil {
			return err
		}
		*w = Window(p)
		return nil
	}
	return yamldoc.NodeError(node, "want any or a mapping {days: [sat], start: \"02:00\", end: \"06:00\", tz: UTC}, got %s", yamldoc.Kind(node))
}

// UnmarshalYAML reads a time of day written with or without quotes: YAML
// 1.1 reads an unquoted 02:00 as a sexagesimal number, so only the source
// text is trusted.
func (c *Clock) UnmarshalYAML(node ast.Node) error {
	s, ok := yamldoc.Scalar(node)
	if !ok {
		return yamldoc.NodeError(node, "want a time of day \"HH:MM\", got %s", yamldoc.Kind(node))
	}
	*c = Clock(s)
	return nil
}

// JSONSchemaScalar is the scalar form of a window, beside its mapping.
func (Window) JSONSchemaScalar() map[string]any {
	return map[string]any{"const": WindowAny, "description": "always open: the plan runs at any time"}
}

// JSONSchema describes Weekday for plans/schema.json.
func (Weekday) JSONSchema() map[string]any {
	return map[string]any{"type": "string", "enum": []any{
		"mon", "tue", "wed", "thu", "fri", "sat", "sun",
		"monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday", WindowAny,
	}}
}

// JSONSchema describes Clock for plans/schema.json.
func (Clock) JSONSchema() map[string]any {
	return map[string]any{"type": "string", "pattern": `^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$`}
}

// WindowErrorf is an error placed at the plan's window key (at the top of
// the file when it has none), with exit code 2: what drill run reports
// when it refuses to run outside the window.
func (p *Plan) WindowErrorf(format string, args ...any) *Error {
	return p.errorf(path("window"), true, format, args...)
}

// window checks the window parses, placing a problem at its field.
func (c *checker) window() {
	w := c.p.Window
	if w == nil {
		return
	}
	_, err := w.Calendar()
	var fe *calendar.FieldError
	if !errors.As(err, &fe) {
		return
	}
	at := path("window", fe.Field)
	msg := fe.Msg
	switch fe.Field {
	case "days":
		for i, d := range w.Days {
			if _, ok := calendar.ParseWeekday(string(d)); !ok && (len(w.Days) > 1 || !strings.EqualFold(string(d), WindowAny)) {
				at = at.Add(i)
				if len(w.Days) > 1 && strings.EqualFold(string(d), WindowAny) {
					msg = `"any" stands alone: it cannot be combined with weekdays`
				}
				break
			}
		}
	case "start", "end":
		if (fe.Field == "start" && w.Start == "") || (fe.Field == "end" && w.End == "") {
			c.badKey(path("window", fe.Field), "required: the local time of day the window %s, \"HH:MM\"", map[string]string{"start": "opens", "end": "closes"}[fe.Field])
			return
		}
	}
	c.bad(at, "%s", msg)
}
