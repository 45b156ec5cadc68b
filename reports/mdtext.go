package reports

// MarkdownText makes s literal text in Markdown, for other documents built
// from reports (the advance notice): on one line, safe inside a table cell,
// with no emphasis, code, link, image or HTML of its own (see mdEsc).
func MarkdownText(s string) string { return mdEsc(s) }

// MarkdownLine is MarkdownText for text that starts a line of its own (a
// paragraph or a list item): a leading list, heading or link-definition
// marker is escaped too (see mdPara).
func MarkdownLine(s string) string { return mdPara(s) }
