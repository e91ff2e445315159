package customrule

import (
	"strings"

	"github.com/exportguard/exportguard/pkg/guard"
)

// message is a custom rule's message template split once into text and
// placeholders, so that each verdict's message is one allocation rather than
// a parse of the template (guard.RenderCustomMessage, whose text it gives:
// TestMessageMatchesRender).
type message struct {
	parts []messagePart
	text  int // the length of the text parts
}

type messagePart struct {
	text  string // text, or the placeholder's field
	field bool
}

// parseMessage splits a template as guard.RenderCustomMessage reads it; a
// template that guard.CheckCustomMessage refuses is text, as it renders.
func parseMessage(tmpl string) message {
	var m message
	add := func(p messagePart) {
		if !p.field {
			if p.text == "" {
				return
			}
			m.text += len(p.text)
		}
		m.parts = append(m.parts, p)
	}
	if guard.CheckCustomMessage(tmpl) != nil {
		add(messagePart{text: tmpl})
		return m
	}
	rest := tmpl
	for range len(tmpl) + 1 { // each round takes a placeholder: bounded by the template's length
		open := strings.Index(rest, "{{")
		if open < 0 {
			break
		}
		end := strings.Index(rest[open:], "}}") // there is one: CheckCustomMessage
		add(messagePart{text: rest[:open]})
		add(messagePart{text: strings.TrimSpace(rest[open+2 : open+end]), field: true})
		rest = rest[open+end+2:]
	}
	add(messagePart{text: rest})
	return m
}

// render is the message for res.
func (m message) render(res *guard.Resource) string {
	var buf [8]string
	values := buf[:0]
	size := m.text
	for _, p := range m.parts {
		if p.field {
			v := guard.CustomMessageField(p.text, res)
			values = append(values, v)
			size += len(v)
		}
	}
	var b strings.Builder
	b.Grow(size)
	for _, p := range m.parts {
		if p.field {
			b.WriteString(values[0])
			values = values[1:]
		} else {
			b.WriteString(p.text)
		}
	}
	return b.String()
}
