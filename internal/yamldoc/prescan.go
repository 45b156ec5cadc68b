package yamldoc

import "fmt"

// prescan measures a document in one pass over its bytes, before the YAML
// library sees it: roughly how many tokens it holds (keys, values, list
// entries, flow indicators) and how deeply it nests (flow brackets, and
// block collections by the columns of their keys and dashes). It allocates
// nothing per token and takes linear time whatever the input, so a hostile
// file is refused before the library's quadratic parse of deep nesting or
// its per-token allocations. The count is close, not exact: the parsed
// tree is measured exactly by treeLimits afterwards.
type prescan struct {
	data      []byte
	i         int // next byte
	line, col int // of data[i], 1-based

	tokens int
	flow   int   // open [ and {
	blocks []int // columns of open block collections
	lineIn int   // indentation of the current line

	scalarIndent int // >= 0 inside a block scalar: lines indented more are its text
}

// limitError is a limit exceeded at line:col.
type limitError struct {
	line, col int
	msg       string
}

func (p *prescan) run() *limitError {
	p.line, p.col, p.scalarIndent = 1, 1, -1
	for p.i < len(p.data) {
		if err := p.lineStart(); err != nil {
			return err
		}
	}
	return nil
}

func (p *prescan) peek(off int) byte {
	if p.i+off < len(p.data) {
		return p.data[p.i+off]
	}
	return 0
}

func (p *prescan) next() {
	if p.data[p.i] == '\n' {
		p.line, p.col = p.line+1, 1
	} else {
		p.col++
	}
	p.i++
}

func blank(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == 0 }

// lineStart handles one line of block context (or the rest of a flow
// collection that began on it).
func (p *prescan) lineStart() *limitError {
	indent := 0
	for p.peek(0) == ' ' {
		p.next()
		indent++
	}
	c := p.peek(0)
	if c == '\n' || c == '\r' || c == '#' || c == 0 {
		p.skipLine()
		return nil
	}
	if p.scalarIndent >= 0 {
		if indent > p.scalarIndent {
			p.skipLine()
			return nil
		}
		p.scalarIndent = -1
	}
	if p.flow == 0 && p.col == 1 && (p.at("---") || p.at("...") || c == '%') {
		p.blocks = p.blocks[:0]
		p.skipLine()
		return nil
	}
	p.lineIn = indent
	return p.node()
}

func (p *prescan) at(s string) bool {
	for k := range len(s) {
		if p.peek(k) != s[k] {
			return false
		}
	}
	return blank(p.peek(len(s)))
}

func (p *prescan) skipLine() {
	for p.i < len(p.data) && p.data[p.i] != '\n' {
		p.next()
	}
	if p.i < len(p.data) {
		p.next()
	}
}

func (p *prescan) skipSpaces() {
	for p.peek(0) == ' ' || p.peek(0) == '\t' {
		p.next()
	}
}

func (p *prescan) count(depthChange bool) *limitError {
	p.tokens++
	if p.tokens > MaxTokens {
		return &limitError{p.line, p.col, fmt.Sprintf("more than %d YAML tokens: refused", MaxTokens)}
	}
	if depthChange && p.flow+len(p.blocks) > MaxDepth {
		return &limitError{p.line, p.col, fmt.Sprintf("nested deeper than %d levels: refused", MaxDepth)}
	}
	return nil
}

// node reads what follows a line's indentation, a dash or a key's colon in
// block context, to the end of the line (or of a flow collection).
func (p *prescan) node() *limitError {
	for {
		p.skipSpaces()
		c := p.peek(0)
		switch {
		case c == 0 || c == '\n' || c == '\r' || c == '#':
			p.skipLine()
			return nil
		case (c == '-' || c == '?') && blank(p.peek(1)):
			p.blocks = nest(p.blocks, p.col)
			if err := p.count(true); err != nil {
				return err
			}
			p.next()
			continue
		case c == '[' || c == '{':
			if err := p.flowCollection(); err != nil {
				return err
			}
		case c == '|' || c == '>':
			p.scalarIndent = p.lineIn
			p.skipLine()
			return p.count(false)
		case c == '&' || c == '!' || c == '*':
			for !blank(p.peek(0)) && p.peek(0) != ',' {
				p.next()
			}
			if err := p.count(false); err != nil {
				return err
			}
			continue
		default:
			col := p.col
			if err := p.scalar(false); err != nil {
				return err
			}
			if p.peek(0) == ':' && blank(p.peek(1)) {
				p.blocks = nest(p.blocks, col)
				if err := p.count(true); err != nil {
					return err
				}
				p.next()
				continue
			}
		}
		// What follows a complete value on the line: a key's colon after
		// a quoted or flow key, a comment, the end, or more (which the
		// parser refuses, but reads first: it counts all the same).
		p.skipSpaces()
		switch c := p.peek(0); {
		case c == ':' && blank(p.peek(1)):
			p.next()
		case c == 0 || c == '\n' || c == '\r' || c == '#':
			p.skipLine()
			return nil
		}
	}
}

// scalar skips one scalar: quoted (over lines), or plain up to ": ", " #",
// the end of the line, or (inFlow) a flow indicator.
func (p *prescan) scalar(inFlow bool) *limitError {
	if err := p.count(false); err != nil {
		return err
	}
	switch q := p.peek(0); q {
	case '"', '\'':
		p.next()
		for p.i < len(p.data) {
			c := p.peek(0)
			switch {
			case q == '"' && c == '\\':
				p.next()
			case c == q && q == '\'' && p.peek(1) == '\'':
				p.next()
			case c == q:
				p.next()
				return nil
			}
			if p.i < len(p.data) {
				p.next()
			}
		}
		return nil
	}
	for p.i < len(p.data) {
		c := p.peek(0)
		if c == '\n' || (c == ':' && (blank(p.peek(1)) || inFlow && flowIndicator(p.peek(1)))) ||
			(c == '#' && p.i > 0 && blank(p.data[p.i-1])) || (inFlow && flowIndicator(c)) {
			return nil
		}
		p.next()
	}
	return nil
}

func flowIndicator(c byte) bool { return c == ',' || c == '[' || c == ']' || c == '{' || c == '}' }

// flowCollection skips a [ or { collection with everything nested in it,
// over as many lines as it takes.
func (p *prescan) flowCollection() *limitError {
	start := p.flow
	for p.i < len(p.data) {
		c := p.peek(0)
		switch {
		case c == '[' || c == '{':
			p.flow++
			if err := p.count(true); err != nil {
				return err
			}
			p.next()
		case c == ']' || c == '}':
			p.flow--
			p.next()
			if p.flow <= start {
				p.flow = start
				return nil
			}
		case c == ',' || c == ':' || blank(c):
			p.next()
		case c == '#' && p.i > 0 && blank(p.data[p.i-1]):
			for p.i < len(p.data) && p.data[p.i] != '\n' {
				p.next()
			}
		default:
			at := p.i
			if err := p.scalar(true); err != nil {
				return err
			}
			if p.i == at { // a lone indicator such as ':' in "a:b"
				p.next()
			}
		}
	}
	return nil
}
