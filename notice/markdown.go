package notice

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/aiuptime/aiuptime/reports"
)

// Markdown renders the notice as notice.md. Every text from the plan or
// the reports is escaped (reports.MarkdownText), so it stays text.
func (n *Notice) Markdown() []byte {
	var b bytes.Buffer
	b.WriteString("# Maintenance notice: " + reports.MarkdownText(n.Plan) + "\n\n")
	for _, s := range n.sections() {
		b.WriteString("## " + reports.MarkdownText(s.Title) + "\n\n")
		mdParas(&b, s.Paras)
		for i, it := range s.Items {
			marker := "- "
			if s.Ordered {
				marker = fmt.Sprintf("%d. ", i+1)
			}
			b.WriteString(marker + reports.MarkdownLine(it) + "\n")
		}
		if len(s.Items) > 0 {
			b.WriteString("\n")
		}
		if len(s.Rows) > 0 {
			mdTable(&b, s.Head, s.Rows)
			b.WriteString("\n")
		}
		mdParas(&b, s.After)
	}
	b.WriteString("---\n\n")
	mdParas(&b, n.footer())
	return bytes.TrimRight(b.Bytes(), "\n")
}

func mdParas(b *bytes.Buffer, paras []string) {
	for _, p := range paras {
		b.WriteString(reports.MarkdownLine(p) + "\n\n")
	}
}

func mdTable(b *bytes.Buffer, head []string, rows [][]string) {
	b.WriteString("| " + strings.Join(head, " | ") + " |\n|" + strings.Repeat("---|", len(head)) + "\n")
	for _, row := range rows {
		cells := make([]string, len(row))
		for i, c := range row {
			cells[i] = reports.MarkdownText(c)
		}
		b.WriteString("| " + strings.Join(cells, " | ") + " |\n")
	}
}
